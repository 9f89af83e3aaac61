"""End-to-end over three real processes (api, gateway, notifier) on PostgreSQL
and Redis: the spec's scenarios 5.1.3 plus notifier failure and shutdown."""

from __future__ import annotations

import asyncio
import json
import signal
import time
import uuid
from typing import Any

import httpx
import pytest
import websockets

from tests.e2e.conftest import Account, Stack, history_after, open_chat, post_message, register
from tests.e2e.procs import Proc, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


async def next_of(ws: Any, wanted: str, timeout: float = 5) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            frame = json.loads(await ws.recv())
            if frame["type"] == wanted:
                return frame


async def arrives(ws: Any, message_id: str, timeout: float) -> bool:
    """Whether ``new_message`` of ``message_id`` reaches ``ws`` within ``timeout`` s; earlier ones are skipped
    (a message that missed its own wait arrives during the next one)."""
    try:
        async with asyncio.timeout(timeout):
            while (await next_of(ws, "new_message", timeout=timeout))["message"]["id"] != message_id:
                pass
    except TimeoutError:
        return False
    return True


async def send(ws: Any, chat_id: str, text: str) -> dict[str, Any]:
    request_id = str(uuid.uuid4())
    await ws.send(json.dumps({"type": "message", "chat_id": chat_id, "text": text, "request_id": request_id}))
    ack = await next_of(ws, "message_sent")
    assert ack["request_id"] == request_id
    return dict(ack["message"])


def people(stack: Stack) -> tuple[Account, Account, str]:
    a, b = register(stack.api.url), register(stack.api.url)
    return a, b, open_chat(stack.api.url, a, b)


async def test_register_chat_send_receive_history(shared_stack: Stack) -> None:
    a, b, chat_id = people(shared_stack)
    async with (
        websockets.connect(f"{shared_stack.gateway.ws}?token={a.token}") as wa,
        websockets.connect(f"{shared_stack.gateway.ws}?token={b.token}&chat_id={chat_id}") as wb,
    ):
        sent = await send(wa, chat_id, "Hello from A")
        got = await next_of(wb, "new_message")
        assert got["message"] == sent and sent["seq"] == 1
    history = history_after(shared_stack.api.url, b, chat_id)
    assert [m["text"] for m in history] == ["Hello from A"]


async def test_every_device_of_every_member_receives(shared_stack: Stack) -> None:
    a, b, chat_id = people(shared_stack)
    async with (
        websockets.connect(f"{shared_stack.gateway.ws}?token={a.token}") as a1,
        websockets.connect(f"{shared_stack.gateway.ws}?token={a.token}") as a2,
        websockets.connect(f"{shared_stack.gateway.ws}?token={b.token}") as b1,
    ):
        sent = await send(b1, chat_id, "to both of your devices")
        for ws in (a1, a2):
            assert (await next_of(ws, "new_message"))["message"]["id"] == sent["id"]
        for ws in (a1, a2, b1):  # once each; never to the sending socket
            with pytest.raises(TimeoutError):
                await next_of(ws, "new_message", timeout=0.3)


async def test_reconnect_resyncs_from_history(shared_stack: Stack) -> None:
    a, b, chat_id = people(shared_stack)
    async with websockets.connect(f"{shared_stack.gateway.ws}?token={a.token}") as wa:
        async with websockets.connect(f"{shared_stack.gateway.ws}?token={b.token}") as wb:
            first = await send(wa, chat_id, "m1")
            last_seen = (await next_of(wb, "new_message"))["message"]
        missed = [await send(wa, chat_id, f"m{i}") for i in range(2, 5)]
    async with websockets.connect(f"{shared_stack.gateway.ws}?token={b.token}"):
        recovered = history_after(shared_stack.api.url, b, chat_id, after_id=last_seen["id"])
    assert last_seen["id"] == first["id"]
    assert [m["id"] for m in recovered] == [m["id"] for m in missed]
    assert [m["seq"] for m in recovered] == [2, 3, 4]


def ready(proc: Proc) -> tuple[int, dict[str, Any]]:
    reply = httpx.get(f"{proc.url}/health/ready", timeout=5)
    return reply.status_code, reply.json()


async def test_notifier_down_degrades_and_recovers_without_losing_anything(stack: Stack) -> None:
    """The gateway delivers to its own sockets itself, so a chat on one gateway goes on
    live while the notifier is down; a send through the api (which has no sockets)
    reaches them through the notifier, and does again once it is back."""
    a, b, chat_id = people(stack)
    acked: list[dict[str, Any]] = []
    async with (
        websockets.connect(f"{stack.gateway.ws}?token={a.token}") as wa,
        websockets.connect(f"{stack.gateway.ws}?token={b.token}") as wb,
    ):
        acked.append(post_message(stack.api.url, a, chat_id, "before, through the api"))
        assert (await next_of(wb, "new_message"))["message"]["id"] == acked[-1]["id"]
        stack.notifier.signal(signal.SIGKILL)
        stack.notifier.wait()
        for i in range(3):  # still stored, acknowledged and, on this gateway, delivered
            acked.append(await send(wa, chat_id, f"while down {i}"))
            assert (await next_of(wb, "new_message"))["message"]["id"] == acked[-1]["id"]
        acked.append(post_message(stack.api.url, a, chat_id, "while down, through the api"))  # stored; no live delivery
        status, body = ready(stack.api)
        assert status == 200 and body["status"] == "degraded"
        assert body["checks"]["notification_service"] == "unhealthy"
        stack.restart_notifier()
        delivered = False
        deadline = time.monotonic() + 20
        while not delivered and time.monotonic() < deadline:
            acked.append(post_message(stack.api.url, a, chat_id, "after, through the api"))
            delivered = await arrives(wb, acked[-1]["id"], timeout=1.5)
        assert delivered, "live delivery through the notifier did not resume after it came back"
    stored = history_after(stack.api.url, b, chat_id)
    assert [m["id"] for m in stored] == [m["id"] for m in acked]
    assert [m["seq"] for m in stored] == list(range(1, len(acked) + 1))
    deadline = time.monotonic() + 5  # readiness back within 5 s
    while ready(stack.api)[1]["status"] != "ready" and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    assert ready(stack.api)[1]["status"] == "ready"


async def test_gateway_sigterm_closes_sockets_1012_reports_unready_and_exits_0(stack: Stack) -> None:
    a, b, chat_id = people(stack)
    async with websockets.connect(f"{stack.gateway.ws}?token={a.token}") as wa:
        await wa.send(json.dumps({"type": "ping"}))
        await next_of(wa, "pong")
        stack.gateway.signal(signal.SIGTERM)
        status, body = ready(stack.gateway)  # during the drain window
        assert status == 503 and body["status"] == "unready"
        with pytest.raises(websockets.ConnectionClosed) as closed:
            async with asyncio.timeout(10):
                while True:
                    await wa.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code in (1001, 1012)
    assert stack.gateway.wait(15) == 0
    for proc in (stack.api, stack.notifier):
        proc.signal(signal.SIGTERM)
        assert proc.wait(15) == 0


async def test_gateway_killed_users_go_offline_within_a_ttl(stack: Stack) -> None:
    short = {**stack.env, "PRESENCE_TTL": "2", "WS_HEARTBEAT_INTERVAL": "0.5"}
    ports = free_port(), free_port()
    doomed = Proc("gw-doomed", ["serve", "--port", str(ports[0])], short, ports[0]).start(stack.log_dir)
    survivor = Proc("gw-survivor", ["serve", "--port", str(ports[1])], short, ports[1]).start(stack.log_dir)
    try:
        a, b, _ = people(stack)
        async with websockets.connect(f"{survivor.ws}?token={b.token}") as watcher:
            ws_a = await websockets.connect(f"{doomed.ws}?token={a.token}")
            online = await next_of(watcher, "presence")
            assert (online["event"], online["user_id"]) == ("user_online", a.id)
            doomed.signal(signal.SIGKILL)
            doomed.wait()
            started = time.monotonic()
            offline = await next_of(watcher, "presence", timeout=10)
            assert (offline["event"], offline["user_id"]) == ("user_offline", a.id)
            assert time.monotonic() - started < 6
            del ws_a
    finally:
        doomed.stop()
        survivor.stop()
