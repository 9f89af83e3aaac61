"""A client that stops reading is dropped after ``WS_WRITE_TIMEOUT`` (real gateway process).

Its socket buffers fill up while the partner keeps sending; instead of
queueing events in the gateway without bound, the gateway ends that
connection, the user goes offline for the partner, nothing is lost (history
has every message) and everyone else is served as before.
"""

from __future__ import annotations

import json
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from websockets.sync.client import ClientConnection, connect

from messaging.models import Message
from tests.e2e.conftest import Stack, open_chat, register
from tests.e2e.procs import Proc, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

WRITE_TIMEOUT = 1.0


@pytest.fixture
def strict_gateway(shared_stack: Stack) -> Iterator[Proc]:
    port = free_port()
    env = {
        **shared_stack.env,
        "WS_WRITE_TIMEOUT": str(WRITE_TIMEOUT),
        "WS_MESSAGES_PER_SECOND": "100000",
        "WS_FRAMES_PER_SECOND": "100000",
    }
    gateway = Proc("gw-strict", ["serve", "--port", str(port), "--role", "gateway"], env, port)
    yield gateway.start(shared_stack.log_dir)
    gateway.stop()


def _non_reader(gateway: Proc, token: str) -> ClientConnection:
    """A WebSocket whose receive buffer is tiny and which never reads."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", gateway.port))
    return connect(f"{gateway.ws}?token={token}", sock=sock, ping_interval=None, open_timeout=10)


def _frames_until(
    ws: ClientConnection, done: Callable[[list[dict[str, Any]]], bool], timeout: float
) -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not done(frames):
        try:
            frames.append(json.loads(ws.recv(timeout=max(0.01, deadline - time.monotonic()))))
        except TimeoutError:
            break
    return frames


def test_a_client_that_stops_reading_is_dropped_and_loses_nothing(shared_stack: Stack, strict_gateway: Proc) -> None:
    api = shared_stack.api.url
    reader, sender = register(api), register(api)
    chat_id = open_chat(api, reader, sender)
    stuck = _non_reader(strict_gateway, reader.token)
    with connect(f"{strict_gateway.ws}?token={sender.token}", ping_interval=None, max_size=2**22) as ws:
        text = "x" * 4000
        sent, dropped = 0, False
        started = time.monotonic()
        while not dropped and time.monotonic() - started < 60:
            for _ in range(50):  # pipelined; acks and presence are read below
                request_id = str(uuid.uuid4())
                ws.send(json.dumps({"type": "message", "chat_id": chat_id, "text": text, "request_id": request_id}))
            sent += 50
            frames = _frames_until(ws, lambda fs: sum(f["type"] == "message_sent" for f in fs) >= 50, 30)
            dropped = any(f["type"] == "presence" and f["event"] == "user_offline" for f in frames)
        assert dropped, f"the non-reading client was still connected after {sent} messages of 4 KB"
        # The gateway goes on serving the partner.
        ws.send('{"type":"ping"}')
        assert any(f["type"] == "pong" for f in _frames_until(ws, lambda fs: bool(fs) and fs[-1]["type"] == "pong", 5))
    stuck.close_socket()
    seqs = list(Message.objects.filter(chat_id=chat_id).order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, sent + 1))  # every message stored once, no gap
    log = strict_gateway.output()
    assert "client stopped reading" in log
    assert "Traceback" not in log
