"""Embedded mode (no services at all), as a newcomer runs it with ``make run``."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest
import websockets

from tests.e2e.conftest import history_after, open_chat, register
from tests.e2e.procs import ROOT, Proc, free_port

pytestmark = [pytest.mark.e2e]


async def test_embedded_mode_serves_rest_docs_and_realtime_chat(embedded: Proc) -> None:
    a, b = register(embedded.url), register(embedded.url)
    me = httpx.get(f"{embedded.url}/api/v1/users/me", headers={"Authorization": f"Bearer {a.token}"})
    assert me.status_code == 200 and me.json()["username"] == a.username
    assert httpx.get(f"{embedded.url}/api/docs/").status_code == 200
    ready = httpx.get(f"{embedded.url}/health/ready").json()
    assert ready["status"] == "ready"
    chat_id = open_chat(embedded.url, a, b)
    async with (
        websockets.connect(f"{embedded.ws}?token={a.token}") as wa,
        websockets.connect(f"{embedded.ws}?token={b.token}") as wb,
    ):
        request_id = str(uuid.uuid4())
        await wa.send(
            json.dumps({"type": "message", "chat_id": chat_id, "text": "embedded hi", "request_id": request_id})
        )
        async with asyncio.timeout(5):
            while (ack := json.loads(await wa.recv()))["type"] != "message_sent":
                pass
            while (got := json.loads(await wb.recv()))["type"] != "new_message":
                pass
        assert got["message"] == ack["message"]
    assert [m["text"] for m in history_after(embedded.url, b, chat_id)] == ["embedded hi"]


async def test_console_client_sends_and_receives(embedded: Proc) -> None:
    import subprocess
    import sys

    from tests.e2e.procs import ROOT, base_env

    a, b = register(embedded.url), register(embedded.url)
    chat_id = open_chat(embedded.url, a, b)
    # LOG_LEVEL=info, as a user runs it: library request logs must still stay off the chat screen.
    env = base_env(NEONCHAT_PASSWORD="correct-horse-battery", DATABASE_URL="", REDIS_URL="", LOG_LEVEL="info")
    args = [
        sys.executable,
        "manage.py",
        "chat_client",
        "--url",
        embedded.url,
        "--username",
        a.username,
        "--chat",
        b.username,
    ]
    async with websockets.connect(f"{embedded.ws}?token={b.token}") as wb:
        client = subprocess.Popen(
            args, cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        assert client.stdin is not None and client.stdout is not None
        async with asyncio.timeout(20):
            while "connected" not in (await asyncio.to_thread(client.stdout.readline)):
                pass
            client.stdin.write("hello from the terminal\n")
            client.stdin.flush()
            while (frame := json.loads(await wb.recv()))["type"] != "new_message":
                pass
            assert frame["message"]["text"] == "hello from the terminal"
            await wb.send(
                json.dumps(
                    {"type": "message", "chat_id": chat_id, "text": "hi terminal", "request_id": str(uuid.uuid4())}
                )
            )
            while "hi terminal" not in (await asyncio.to_thread(client.stdout.readline)):
                pass
            client.stdin.write("/away\n")
            client.stdin.flush()
            while "you are now away" not in (await asyncio.to_thread(client.stdout.readline)):
                pass
        client.stdin.write("/quit\n")
        client.stdin.flush()
        assert client.wait(10) == 0
        assert client.stderr is not None
        assert "HTTP Request" not in client.stderr.read()  # library logging stays off the chat screen


async def test_console_client_searches_messages(embedded: Proc) -> None:
    import subprocess
    import sys

    from tests.e2e.procs import ROOT, base_env

    a, b = register(embedded.url), register(embedded.url)
    chat_id = open_chat(embedded.url, a, b)
    for text in ("Встреча в пятницу <b>в 10</b>", "nothing to see"):
        sent = httpx.post(
            f"{embedded.url}/api/v1/chats/{chat_id}/messages",
            json={"text": text, "request_id": str(uuid.uuid4())},
            headers={"Authorization": f"Bearer {b.token}"},
        )
        assert sent.status_code == 201, sent.text
    env = base_env(NEONCHAT_PASSWORD="correct-horse-battery", DATABASE_URL="", REDIS_URL="")
    args = [sys.executable, "manage.py", "chat_client", "--url", embedded.url, "--username", a.username]
    args += ["--chat", b.username]
    client = subprocess.Popen(args, cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert client.stdin is not None and client.stdout is not None
    async with asyncio.timeout(20):
        while "connected" not in (await asyncio.to_thread(client.stdout.readline)):
            pass
        client.stdin.write("/search встреча пят\n")
        client.stdin.flush()
        while "found" not in (line := await asyncio.to_thread(client.stdout.readline)):
            pass
        assert "1 found" in line
        hit = await asyncio.to_thread(client.stdout.readline)
        assert f"[{b.username} #1] {b.username}: *Встреча* в *пятницу* <b>в 10</b>" in hit, hit
    client.stdin.write("/quit\n")
    client.stdin.flush()
    assert client.wait(10) == 0


async def test_a_three_person_group_in_embedded_mode_with_the_console_client(embedded: Proc) -> None:
    """Groups in embedded mode (SQLite, in-process delivery): the console client
    creates one with --group, the others get chat_created, messages and events."""
    import subprocess
    import sys

    from tests.e2e.procs import ROOT, base_env

    a, b, c = register(embedded.url), register(embedded.url), register(embedded.url)
    env = base_env(NEONCHAT_PASSWORD="correct-horse-battery", DATABASE_URL="", REDIS_URL="")
    args = [sys.executable, "manage.py", "chat_client", "--url", embedded.url, "--username", a.username]
    args += ["--group", "Trio", "--members", f"{b.username},{c.username}"]
    async with (
        websockets.connect(f"{embedded.ws}?token={b.token}") as wb,
        websockets.connect(f"{embedded.ws}?token={c.token}") as wc,
    ):
        client = subprocess.Popen(args, cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert client.stdin is not None and client.stdout is not None
        async with asyncio.timeout(20):
            while "connected" not in (line := await asyncio.to_thread(client.stdout.readline)):
                if "group Trio" in line:
                    assert f"{a.username} (owner)" in line and f"{b.username} (member)" in line
            for ws in (wb, wc):
                while (frame := json.loads(await ws.recv()))["type"] != "chat_created":
                    pass
                assert (frame["chat"]["title"], frame["chat"]["members_count"]) == ("Trio", 3)
            chat_id = frame["chat"]["id"]
            client.stdin.write("hello both\n")
            client.stdin.flush()
            for ws in (wb, wc):
                while (frame := json.loads(await ws.recv()))["type"] != "new_message" or frame["message"][
                    "kind"
                ] != "text":
                    pass
                assert (frame["message"]["text"], frame["message"]["sender_id"]) == ("hello both", a.id)
            await wb.send(
                json.dumps(
                    {"type": "message", "chat_id": chat_id, "text": "hi from b", "request_id": str(uuid.uuid4())}
                )
            )
            while f"{b.username}: hi from b" not in (await asyncio.to_thread(client.stdout.readline)):
                pass
            left = httpx.delete(
                f"{embedded.url}/api/v1/chats/{chat_id}/members/{c.id}", headers={"Authorization": f"Bearer {c.token}"}
            )
            assert left.status_code == 204
            while f"* {c.username} left" not in (await asyncio.to_thread(client.stdout.readline)):
                pass
        client.stdin.write("/quit\n")
        client.stdin.flush()
        assert client.wait(10) == 0


async def test_a_logged_out_token_stays_revoked_across_a_restart(embedded: Proc, tmp_path: Path) -> None:
    a = register(embedded.url)
    auth = {"Authorization": f"Bearer {a.token}"}
    assert httpx.post(f"{embedded.url}/api/v1/auth/logout", headers=auth).status_code == 204
    embedded.stop()
    embedded.start(tmp_path)
    again = httpx.get(f"{embedded.url}/api/v1/users/me", headers=auth)
    assert again.status_code == 401 and again.json()["error"]["code"] == "token_revoked", again.text
    async with websockets.connect(f"{embedded.ws}?token={a.token}") as ws:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


def _broadcast(server: Proc, *args: str, port: int | None = None) -> subprocess.CompletedProcess[str]:
    """``manage.py broadcast`` in a second terminal: the server's environment and ``PORT``, as ``make run PORT=...``."""
    env = {**server.env, "PORT": str(port or server.port), "LOG_LEVEL": "info"}
    command = [sys.executable, "manage.py", "broadcast", *args]
    return subprocess.run(command, check=False, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


async def _system_frames(ws: websockets.ClientConnection, quiet: float = 0.5) -> list[str]:
    """The texts of the ``system`` frames that arrive until ``quiet`` s pass without one."""
    texts: list[str] = []
    while True:
        try:
            frame = json.loads(await asyncio.wait_for(ws.recv(), quiet))
        except TimeoutError:
            return texts
        if frame["type"] == "system":
            texts.append(frame["text"])


async def test_broadcast_command_reaches_the_embedded_servers_sockets(embedded: Proc) -> None:
    a, b, c = register(embedded.url), register(embedded.url), register(embedded.url)
    async with (
        websockets.connect(f"{embedded.ws}?token={a.token}") as wa,
        websockets.connect(f"{embedded.ws}?token={a.token}") as wa2,
        websockets.connect(f"{embedded.ws}?token={b.token}") as wb,
    ):
        done = await asyncio.to_thread(_broadcast, embedded, "maintenance at 18:00")
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "delivered to 2 connected user(s)"  # users, not sockets; c is offline
        assert "HTTP Request" not in done.stderr  # the relay's request line is not the command's output
        assert await _system_frames(wa) == await _system_frames(wa2) == ["maintenance at 18:00"]
        assert await _system_frames(wb) == ["maintenance at 18:00"]

        done = await asyncio.to_thread(_broadcast, embedded, "just you", "--user", b.username, "--user", c.username)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "delivered to 1 connected user(s)"
        assert await _system_frames(wb) == ["just you"]
        assert await _system_frames(wa, quiet=0.2) == []

        blank = await asyncio.to_thread(_broadcast, embedded, "   ")
        assert blank.returncode == 1 and "text must be" in blank.stderr


def test_broadcast_relay_refuses_without_the_key_and_says_when_no_server_answers(embedded: Proc) -> None:
    for headers in ({}, {"X-Neonchat-Relay-Key": "0" * 64}):
        reply = httpx.post(f"{embedded.url}/internal/broadcast", json={"text": "x"}, headers=headers)
        assert reply.status_code == 404 and reply.json()["error"]["code"] == "not_found", reply.text
    done = _broadcast(embedded, "hello?", port=free_port())
    assert done.returncode == 1 and "no NeonChat server answers at http://127.0.0.1:" in done.stderr
