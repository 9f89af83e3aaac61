"""Graceful shutdown of the api: an in-flight request finishes, then exit 0."""

from __future__ import annotations

import json
import signal
import socket
import time
import uuid

import httpx
import pytest

from tests.e2e.conftest import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_api_sigterm_finishes_the_in_flight_request_then_exits_0(stack: Stack) -> None:
    body = json.dumps({"username": f"late{uuid.uuid4().hex[:8]}", "password": "correct-horse-battery"}).encode()
    head = (
        f"POST /api/v1/auth/register HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", stack.api.port), timeout=10) as sock:
        sock.sendall(head + body[:10])  # the request is in flight: half its body sent
        time.sleep(0.2)
        stack.api.signal(signal.SIGTERM)
        assert httpx.get(f"{stack.api.url}/health/ready", timeout=5).status_code == 503
        time.sleep(0.5)  # past the drain window: the listener is closed now
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{stack.api.url}/health/live", timeout=2)
        sock.sendall(body[10:])
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 201"), reply[:200]
    assert stack.api.wait(15) == 0
