"""``manage.py chat_client``: a console client for NeonChat (REST + WebSocket).

Logs in, lists chats, opens one (by partner name, ``--group`` title, or asks),
shows the recent history, then sends each typed line and prints what arrives
in realtime: messages (with the sender's name in groups), membership events,
presence and typing. Commands: /search <words> (all my chats), /away,
/online, /quit. ``--group TITLE --members a,b`` creates the group if missing.
"""

from __future__ import annotations

import asyncio
import getpass
import html
import json
import logging
import os
import sys
import threading
import uuid
from typing import Any
from urllib.parse import urlsplit

import httpx
import websockets
from django.core.management.base import BaseCommand, CommandError, CommandParser

from neonchat.local import default_api_url


def _ws_url(api_url: str) -> str:
    parts = urlsplit(api_url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    return f"{scheme}://{parts.netloc}/ws"


class ConsoleChat:
    def __init__(self, api: str, ws: str, out: Any) -> None:
        self.api, self.ws, self.out = api.rstrip("/"), ws, out
        self.token = ""
        self.me: dict[str, str] = {}
        self.names: dict[str, str] = {}
        self.chat_names: dict[str, str] = {}

    def say(self, line: str) -> None:
        self.out.write(line + "\n")
        self.out.flush()

    async def login(self, client: httpx.AsyncClient, username: str, password: str) -> None:
        reply = await client.post(f"{self.api}/api/v1/auth/login", json={"username": username, "password": password})
        if reply.status_code != 200:
            raise CommandError(f"login failed: {reply.json().get('error', {}).get('message', reply.text)}")
        body = reply.json()
        self.token, self.me = body["token"], body["user"]
        client.headers["Authorization"] = f"Bearer {self.token}"

    def _list_chat(self, index: int, chat: dict[str, Any]) -> None:
        if chat["kind"] == "group":
            label = f"#{chat['title']}"
            self.say(f"{index:>3}. {label}  ({chat['members_count']} members, {chat['unread_count']} unread)")
        else:
            label = chat["partner"]["username"]
            self.names[chat["partner"]["id"]] = label
            dot = "●" if chat["partner"]["online"] else "○"
            self.say(f"{index:>3}. {dot} {label}  ({chat['unread_count']} unread)")
        self.chat_names[chat["id"]] = label

    async def pick_group(self, client: httpx.AsyncClient, title: str, members: list[str]) -> dict[str, Any]:
        """My group titled ``title``, created with ``members`` (usernames) if there is none."""
        chats = (await client.get(f"{self.api}/api/v1/chats", params={"limit": 100})).json()["chats"]
        chosen = next((c for c in chats if c["kind"] == "group" and c["title"] == title), None)
        if chosen is None:
            if not members:
                raise CommandError(f"no group titled {title!r}: pass --members a,b to create it")
            ids = [(await self._user(client, name))["id"] for name in members]
            reply = await client.post(f"{self.api}/api/v1/chats", json={"title": title, "member_ids": ids})
            if reply.status_code != 201:
                raise CommandError(f"creating the group failed: {reply.json().get('error', {}).get('message')}")
            chosen = reply.json()
        self.chat_names[chosen["id"]] = f"#{title}"
        return dict(chosen)

    async def learn_members(self, client: httpx.AsyncClient, chat_id: str) -> list[str]:
        page = (await client.get(f"{self.api}/api/v1/chats/{chat_id}/members", params={"limit": 256})).json()
        for member in page["members"]:
            self.names[member["id"]] = member["username"]
        return [f"{m['username']} ({m['role']})" for m in page["members"]]

    async def _user(self, client: httpx.AsyncClient, username: str) -> dict[str, Any]:
        found = (await client.get(f"{self.api}/api/v1/users", params={"search": username, "limit": 20})).json()
        user = next((u for u in found["users"] if u["username"].lower() == username.lower()), None)
        if user is None:
            raise CommandError(f"no user named {username}")
        self.names[user["id"]] = user["username"]
        return dict(user)

    async def pick_chat(self, client: httpx.AsyncClient, partner: str | None) -> dict[str, Any]:
        chats = (await client.get(f"{self.api}/api/v1/chats", params={"limit": 100})).json()["chats"]
        for index, chat in enumerate(chats, start=1):
            self._list_chat(index, chat)
        if partner:
            chosen = next(
                (c for c in chats if c["partner"] and c["partner"]["username"].lower() == partner.lower()), None
            )
            if chosen is None:
                chosen = await self._start_chat(client, partner)
            return chosen
        if not chats:
            raise CommandError("no chats yet: pass --chat <username> to start one")
        answer = await asyncio.to_thread(input, "open chat #: ")
        try:
            return dict(chats[int(answer) - 1])
        except (ValueError, IndexError):
            raise CommandError("no such chat") from None

    async def _start_chat(self, client: httpx.AsyncClient, username: str) -> dict[str, Any]:
        user = await self._user(client, username)
        reply = await client.post(f"{self.api}/api/v1/chats", json={"partner_id": user["id"]})
        return dict(reply.json())

    async def history(self, client: httpx.AsyncClient, chat_id: str) -> None:
        page = (await client.get(f"{self.api}/api/v1/chats/{chat_id}/messages", params={"limit": 20})).json()
        for message in page["messages"]:
            self.show_message(message)

    def _name(self, user_id: str) -> str:
        return "you" if user_id == self.me["id"] else self.names.get(user_id, user_id[:8])

    def show_message(self, message: dict[str, Any]) -> None:
        who = self._name(message["sender_id"])
        if message.get("kind") == "event":
            self.say(f"[{message['seq']}] * {who} {self._event_text(message['event'])}")
            return
        text = "(deleted)" if message.get("deleted") else message["text"]
        self.say(f"[{message['seq']}] {who}: {text}")

    def _event_text(self, event: dict[str, Any]) -> str:
        names = ", ".join(self._name(uid) for uid in event.get("user_ids", []))
        return {
            "chat_created": f"created the group {event.get('title')!r} with {names}",
            "member_added": f"added {names}",
            "member_removed": f"removed {names}",
            "member_left": "left",
            "title_changed": f"renamed the group to {event.get('title')!r}",
        }.get(event["type"], event["type"])

    def show_frame(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind in ("new_message", "message_sent"):
            self.show_message(frame["message"])
        elif kind == "presence":
            self.say(
                f"* {self.names.get(frame['user_id'], frame['user_id'])} is {frame['event'].removeprefix('user_')}"
            )
        elif kind == "typing":
            name = self.names.get(frame["user_id"], "someone")
            self.say(f"* {name} is typing…" if frame["is_typing"] else f"* {name} stopped typing")
        elif kind == "error":
            self.say(f"! {frame['code']}: {frame['message']}")
        elif kind == "system":
            self.say(f"# {frame['text']}")
        elif kind == "chat_removed":
            self.say("* you are no longer a member of this chat")

    async def converse(self, chat_id: str, lines: asyncio.Queue[str | None]) -> None:
        async with websockets.connect(
            f"{self.ws}?chat_id={chat_id}", additional_headers={"Authorization": f"Bearer {self.token}"}
        ) as ws:
            self.say("connected — type a message and press Enter (/search <words>, /away, /online, /quit)")
            reader = asyncio.create_task(self._read(ws))
            try:
                while (line := await lines.get()) is not None and line.strip() != "/quit":
                    if line.strip() == "/search" or line.startswith("/search "):
                        await self.search(line.removeprefix("/search").strip())
                    else:
                        await ws.send(json.dumps(self._frame(chat_id, line)))
                        if line.strip() in ("/away", "/online"):
                            self.say(f"* you are now {line.strip()[1:]}")
            finally:
                reader.cancel()

    async def search(self, words: str) -> None:
        """Print my messages matching ``words`` (every chat, newest first), matches in *stars*."""
        if not words:
            self.say("usage: /search <words>")
            return
        async with httpx.AsyncClient(timeout=10, headers={"Authorization": f"Bearer {self.token}"}) as client:
            reply = await client.get(f"{self.api}/api/v1/messages/search", params={"q": words, "limit": 20})
        if reply.status_code != 200:
            error = reply.json().get("error", {})
            self.say(f"! {error.get('code', reply.status_code)}: {error.get('message', reply.text)}")
            return
        page = reply.json()
        results = page["results"]
        more = " (newest first; more exist, be more specific)" if page["has_more"] else ""
        self.say(f"— {len(results)} found for {words!r}{more}")
        for result in results:
            message = result["message"]
            who = "you" if message["sender_id"] == self.me["id"] else self.names.get(message["sender_id"], "them")
            text = html.unescape(result["highlight"].replace("<mark>", "*").replace("</mark>", "*"))
            chat = self.chat_names.get(message["chat_id"], message["chat_id"][:8])
            self.say(f"  [{chat} #{message['seq']}] {who}: {text}")

    def _frame(self, chat_id: str, line: str) -> dict[str, Any]:
        if line.strip() in ("/away", "/online"):
            return {"type": "presence", "status": line.strip()[1:]}
        return {"type": "message", "chat_id": chat_id, "text": line, "request_id": str(uuid.uuid4())}

    async def _read(self, ws: Any) -> None:
        async for raw in ws:
            self.show_frame(json.loads(raw))


def _feed_stdin(loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[str | None]) -> None:
    """Read stdin in a daemon thread (a blocked read must not keep the process alive)."""
    for line in sys.stdin:
        loop.call_soon_threadsafe(queue.put_nowait, line.rstrip("\n"))
    loop.call_soon_threadsafe(queue.put_nowait, None)


class Command(BaseCommand):
    help = "Chat in the terminal: log in, open a chat, send and receive in realtime."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--url", default=None, help="API base URL (default: 127.0.0.1 on $API_PORT, $PORT or 8080)")
        parser.add_argument("--ws", default=None, help="WebSocket URL (default: the API host's /ws)")
        parser.add_argument("--username", required=True)
        parser.add_argument("--password", default=None, help="default: $NEONCHAT_PASSWORD or a prompt")
        parser.add_argument("--chat", default=None, help="partner username (starts the chat if needed)")
        parser.add_argument("--group", default=None, help="open my group with this title")
        parser.add_argument("--members", default="", help="with --group: usernames (a,b) to create it with")

    def handle(self, *args: Any, **options: Any) -> None:
        # Library logs (httpx's request lines, websockets') would land in the middle of the chat.
        for name in ("httpx", "httpcore", "websockets"):
            logging.getLogger(name).setLevel(logging.WARNING)
        password = options["password"] or os.environ.get("NEONCHAT_PASSWORD") or getpass.getpass("password: ")
        url = options["url"] or default_api_url()
        client = ConsoleChat(url, options["ws"] or _ws_url(url), self.stdout)
        try:
            asyncio.run(self._run(client, options["username"], password, options))
        except (httpx.HTTPError, OSError, websockets.WebSocketException) as error:
            raise CommandError(f"connection failed: {error}") from None

    async def _run(self, chat: ConsoleChat, username: str, password: str, options: dict[str, Any]) -> None:
        async with httpx.AsyncClient(timeout=10) as client:
            await chat.login(client, username, password)
            if options["group"]:
                members = [name for name in options["members"].split(",") if name.strip()]
                opened = await chat.pick_group(client, options["group"], members)
                listed = await chat.learn_members(client, opened["id"])
                chat.say(f"— group {opened['title']}: {', '.join(listed)} —")
            else:
                opened = await chat.pick_chat(client, options["chat"])
                if opened["kind"] == "group":
                    listed = await chat.learn_members(client, opened["id"])
                    chat.say(f"— group {opened['title']}: {', '.join(listed)} —")
                else:
                    chat.names[opened["partner"]["id"]] = opened["partner"]["username"]
                    chat.chat_names[opened["id"]] = opened["partner"]["username"]
                    chat.say(f"— chat with {opened['partner']['username']} —")
            await chat.history(client, opened["id"])
        lines: asyncio.Queue[str | None] = asyncio.Queue()
        threading.Thread(target=_feed_stdin, args=(asyncio.get_running_loop(), lines), daemon=True).start()
        await chat.converse(opened["id"], lines)
