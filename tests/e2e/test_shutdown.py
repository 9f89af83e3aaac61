"""Graceful shutdown: an in-flight request (api) or gRPC call (notifier) finishes, then exit 0."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import time
import uuid

import grpc
import httpx
import psycopg
import pytest
import websockets

from protos.notification.v1 import notification_pb2 as pb
from protos.notification.v1 import notification_pb2_grpc as pb_grpc
from tests.e2e.conftest import Stack, history_after, open_chat, register
from tests.e2e.test_stack import next_of

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


def test_notifier_sigterm_lets_the_in_flight_call_finish_then_exits_0(stack: Stack) -> None:
    a, b = register(stack.api.url), register(stack.api.url)
    chat_id = open_chat(stack.api.url, a, b)
    channel = grpc.insecure_channel(f"127.0.0.1:{stack.notifier.port}")
    stub = pb_grpc.NotificationServiceStub(channel)
    request = pb.ValidateChatAccessRequest(user_id=a.id, chat_id=chat_id)
    assert stub.ValidateChatAccess(request, timeout=10).has_access  # connected and warm
    with psycopg.connect(stack.env["DATABASE_URL"]) as session:
        # The membership read now waits on the lock: the call is in flight inside the notifier.
        session.execute("LOCK TABLE chat_members IN ACCESS EXCLUSIVE MODE")
        in_flight = stub.ValidateChatAccess.future(request, timeout=20)
        time.sleep(0.5)
        assert not in_flight.done()
        stack.notifier.signal(signal.SIGTERM)
        time.sleep(0.5)
        assert not in_flight.done()
        assert stack.notifier.popen is not None and stack.notifier.popen.poll() is None, "exited with a call in flight"
        session.rollback()  # the lock goes; the call completes within the grace period
    assert in_flight.result(timeout=10).has_access is True
    assert stack.notifier.wait(15) == 0
    channel.close()


async def test_gateway_sigterm_acknowledges_the_send_in_flight_before_closing(stack: Stack) -> None:
    a, b = register(stack.api.url), register(stack.api.url)
    chat_id = open_chat(stack.api.url, a, b)
    request_id = str(uuid.uuid4())
    async with websockets.connect(f"{stack.gateway.ws}?token={a.token}") as wa:
        with psycopg.connect(stack.env["DATABASE_URL"]) as session:
            # The send's batch now waits on the chat's row lock: it is in flight in the gateway.
            session.execute("SELECT 1 FROM chats WHERE id = %s FOR UPDATE", (chat_id,))
            frame = {"type": "message", "chat_id": chat_id, "text": "in flight", "request_id": request_id}
            await wa.send(json.dumps(frame))
            await asyncio.sleep(0.3)
            stack.gateway.signal(signal.SIGTERM)
            await asyncio.sleep(1.0)  # past the drain window: the shutdown waits for the send
            assert stack.gateway.popen is not None and stack.gateway.popen.poll() is None
            session.rollback()  # the lock goes; the batch commits
        ack = await next_of(wa, "message_sent")
        assert ack["request_id"] == request_id and ack["message"]["seq"] == 1
        with pytest.raises(websockets.ConnectionClosed) as closed:
            async with asyncio.timeout(10):
                while True:
                    await wa.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code in (1001, 1012)
    assert stack.gateway.wait(15) == 0
    assert [m["text"] for m in history_after(stack.api.url, b, chat_id)] == ["in flight"]
