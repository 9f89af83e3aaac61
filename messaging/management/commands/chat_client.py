"""``manage.py chat_client``: a console client for NeonChat (REST + WebSocket).

Logs in, lists chats, opens one (by partner name, or asks), shows the recent
history, then sends each typed line and prints what arrives in realtime:
messages, presence and typing. Commands: /search <words> (all my chats),
/away, /online, /quit.
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

    async def pick_chat(self, client: httpx.AsyncClient, partner: str | None) -> dict[str, Any]:
        chats = (await client.get(f"{self.api}/api/v1/chats", params={"limit": 100})).json()["chats"]
        for index, chat in enumerate(chats, start=1):
            dot = "●" if chat["partner"]["online"] else "○"
            self.say(f"{index:>3}. {dot} {chat['partner']['username']}  ({chat['unread_count']} unread)")
            self.names[chat["partner"]["id"]] = chat["partner"]["username"]
            self.chat_names[chat["id"]] = chat["partner"]["username"]
        if partner:
            chosen = next((c for c in chats if c["partner"]["username"].lower() == partner.lower()), None)
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
        found = (await client.get(f"{self.api}/api/v1/users", params={"search": username, "limit": 20})).json()
        user = next((u for u in found["users"] if u["username"].lower() == username.lower()), None)
        if user is None:
            raise CommandError(f"no user named {username}")
        reply = await client.post(f"{self.api}/api/v1/chats", json={"partner_id": user["id"]})
        self.names[user["id"]] = user["username"]
        return dict(reply.json())

    async def history(self, client: httpx.AsyncClient, chat_id: str) -> None:
        page = (await client.get(f"{self.api}/api/v1/chats/{chat_id}/messages", params={"limit": 20})).json()
        for message in page["messages"]:
            self.show_message(message)

    def show_message(self, message: dict[str, Any]) -> None:
        who = "you" if message["sender_id"] == self.me["id"] else self.names.get(message["sender_id"], "them")
        text = "(deleted)" if message.get("deleted") else message["text"]
        self.say(f"[{message['seq']}] {who}: {text}")

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

    def handle(self, *args: Any, **options: Any) -> None:
        # Library logs (httpx's request lines, websockets') would land in the middle of the chat.
        for name in ("httpx", "httpcore", "websockets"):
            logging.getLogger(name).setLevel(logging.WARNING)
        password = options["password"] or os.environ.get("NEONCHAT_PASSWORD") or getpass.getpass("password: ")
        url = options["url"] or default_api_url()
        client = ConsoleChat(url, options["ws"] or _ws_url(url), self.stdout)
        try:
            asyncio.run(self._run(client, options["username"], password, options["chat"]))
        except (httpx.HTTPError, OSError, websockets.WebSocketException) as error:
            raise CommandError(f"connection failed: {error}") from None

    async def _run(self, chat: ConsoleChat, username: str, password: str, partner: str | None) -> None:
        async with httpx.AsyncClient(timeout=10) as client:
            await chat.login(client, username, password)
            opened = await chat.pick_chat(client, partner)
            chat.names[opened["partner"]["id"]] = opened["partner"]["username"]
            chat.chat_names[opened["id"]] = opened["partner"]["username"]
            chat.say(f"— chat with {opened['partner']['username']} —")
            await chat.history(client, opened["id"])
        lines: asyncio.Queue[str | None] = asyncio.Queue()
        threading.Thread(target=_feed_stdin, args=(asyncio.get_running_loop(), lines), daemon=True).start()
        await chat.converse(opened["id"], lines)
