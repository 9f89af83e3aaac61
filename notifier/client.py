"""The api/gateway side of the notifier: a resilient gRPC client.

* The spec's service config: ``round_robin`` over every address in
  ``NOTIFIER_ADDR`` (comma-separated, or a DNS name), retries on UNAVAILABLE and
  DEADLINE_EXCEEDED with exponential backoff; a deadline on every call.
* A circuit breaker in front: when the notifier is down, calls fail fast and
  chatting degrades (messages are stored and acknowledged; clients recover
  from history) instead of stalling.
* ``send_message_nowait`` never blocks the sender's acknowledgement: it
  starts the call and handles the outcome in a callback.
* The gateway's send path uses :class:`AsyncNotifierClient` (``grpc.aio`` on
  its event loop): one ``SendMessages`` call per group commit.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import grpc
from asgiref.sync import sync_to_async
from django.conf import settings
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client import Counter, Histogram

from messaging.signals import CommittedMessage
from neonchat.realtime import Here
from notifier import signing
from notifier.breaker import CircuitBreaker
from protos.notification.v1 import notification_pb2 as pb
from protos.notification.v1 import notification_pb2_grpc as pb_grpc

logger = logging.getLogger(__name__)

SERVICE = "notification.v1.NotificationService"

grpc_request_duration = Histogram(
    "grpc_request_duration_seconds",
    "gRPC request duration in seconds",
    ["service", "method", "code"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
notify_skipped = Counter("notifier_client_skipped_total", "Calls not made because the circuit was open", ["method"])


def service_config(max_attempts: int) -> str:
    return json.dumps(
        {
            "loadBalancingConfig": [{"round_robin": {}}],
            "methodConfig": [
                {
                    "name": [{"service": SERVICE}],
                    "retryPolicy": {
                        "maxAttempts": max(2, max_attempts),
                        "initialBackoff": "0.1s",
                        "maxBackoff": "1s",
                        "backoffMultiplier": 2,
                        "retryableStatusCodes": ["UNAVAILABLE", "DEADLINE_EXCEEDED"],
                    },
                }
            ],
        }
    )


def channel_target(addr: str) -> str:
    """``host:port`` as is; several IP ``a:p,b:p`` as one round-robin target."""
    if "," in addr and "://" not in addr and not addr.startswith(("ipv4:", "ipv6:")):
        return f"ipv4:{addr}"
    return addr


def channel_options(max_attempts: int) -> list[tuple[str, Any]]:
    return [
        ("grpc.service_config", service_config(max_attempts)),
        ("grpc.enable_retries", 1),
        ("grpc.keepalive_time_ms", 30_000),
        ("grpc.keepalive_timeout_ms", 10_000),
        ("grpc.initial_reconnect_backoff_ms", 200),
        # A restarted notifier listens about 2 s after a crash: reconnect
        # within half a second of that, not up to two.
        ("grpc.max_reconnect_backoff_ms", 500),
    ]


def send_request(
    message: dict[str, Any], member_ids: Sequence[str], origin: str = "", here: Here | None = None
) -> pb.SendMessageRequest:
    """A stored message as ``SendMessageRequest``, signed as our own."""
    return pb.SendMessageRequest(
        message_id=message["id"],
        chat_id=message["chat_id"],
        sender_id=message["sender_id"],
        text=message["text"],
        timestamp=int(time.time()),
        metadata={"origin": origin, signing.METADATA_KEY: signing.sign(message, member_ids)},
        seq=message["seq"],
        created_at=message["created_at"],
        updated_at=message["updated_at"],
        recipient_ids=member_ids,
        kind=message.get("kind", "text"),
        event_json=signing.event_json(message),
        delivered_by=here.by if here else "",
        delivered_connection_ids=here.connections if here else (),
    )


class NotifierClient:
    def __init__(self, addr: str, *, timeout: float, max_attempts: int) -> None:
        self.addr = addr
        self.timeout = timeout
        self.channel = grpc.insecure_channel(channel_target(addr), options=channel_options(max_attempts))
        self.stub = pb_grpc.NotificationServiceStub(self.channel)
        self.health = health_pb2_grpc.HealthStub(self.channel)
        self.breaker = CircuitBreaker(addr)

    def _observe(self, method: str, started: float, code: grpc.StatusCode) -> None:
        grpc_request_duration.labels(SERVICE, method, code.name).observe(time.perf_counter() - started)
        if code in (grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND):
            self.breaker.record_success()
        else:
            self.breaker.record_failure()

    def _call(self, method: str, request: Any) -> Any | None:
        """A blocking call through the breaker; ``None`` on any failure."""
        if not self.breaker.allow():
            notify_skipped.labels(method).inc()
            return None
        started = time.perf_counter()
        try:
            response = getattr(self.stub, method)(request, timeout=self.timeout)
        except grpc.RpcError as error:
            self._observe(method, started, error.code())
            logger.warning("notifier %s failed: %s", method, error.code().name)
            return None
        self._observe(method, started, grpc.StatusCode.OK)
        return response

    def send_message_nowait(self, *, message: dict[str, Any], member_ids: list[str], origin: str = "") -> None:
        """Start ``SendMessage`` and return at once (the ack never waits for fan-out)."""
        if not self.breaker.allow():
            notify_skipped.labels("SendMessage").inc()
            logger.info("notifier circuit open; message %s left to history sync", message["id"])
            return
        request = send_request(message, member_ids, origin)
        future = self.stub.SendMessage.future(request, timeout=self.timeout)
        future.add_done_callback(self._on_sent(time.perf_counter(), message["id"]))

    def _on_sent(self, started: float, message_id: str) -> Callable[[Any], None]:
        def done(future: Any) -> None:
            code = future.code()
            self._observe("SendMessage", started, code)
            if code is not grpc.StatusCode.OK:
                logger.warning("SendMessage %s failed: %s (clients recover from history)", message_id, code.name)

        return done

    def users_status(self, user_ids: list[str]) -> dict[str, str] | None:
        """``{user_id: online|away|offline}`` in one call, or ``None`` if unavailable."""
        response = self._call("GetUsersStatus", pb.GetUsersStatusRequest(user_ids=user_ids))
        if response is None:
            return None
        return {s.user_id: s.status for s in response.statuses}

    def broadcast(self, *, text: str, user_ids: list[str], metadata: dict[str, str] | None = None) -> int | None:
        request = pb.BroadcastSystemMessageRequest(text=text, user_ids=user_ids, metadata=metadata or {})
        response = self._call("BroadcastSystemMessage", request)
        return None if response is None else int(response.delivered_to)

    def _serving(self) -> bool:
        try:
            reply = self.health.Check(health_pb2.HealthCheckRequest(service=SERVICE), timeout=min(self.timeout, 1.0))
        except grpc.RpcError:
            return False
        return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)

    async def is_serving(self) -> bool:
        return await sync_to_async(self._serving, thread_sensitive=False)()

    def close(self) -> None:
        self.channel.close()


@functools.cache
def notifier_client() -> NotifierClient:
    """The process-wide client for ``NOTIFIER_ADDR`` (one channel, many calls)."""
    return NotifierClient(
        settings.NOTIFIER_ADDR, timeout=float(settings.GRPC_TIMEOUT), max_attempts=int(settings.GRPC_MAX_RETRIES)
    )


async def notifier_serving() -> bool:
    """The readiness check of ``notification_service`` (registered in ``NotifierConfig.ready``)."""
    if not settings.NOTIFIER_ADDR:
        return True  # embedded: the notifier runs in-process
    return await notifier_client().is_serving()


class AsyncNotifierClient:
    """``grpc.aio`` client of one event loop, for the gateway's batched send path."""

    def __init__(self, addr: str, *, timeout: float, max_attempts: int) -> None:
        self.timeout = timeout
        self.channel = grpc.aio.insecure_channel(channel_target(addr), options=channel_options(max_attempts))
        self.stub = pb_grpc.NotificationServiceStub(self.channel)
        self.breaker = CircuitBreaker(addr)

    async def send_messages(self, committed: Sequence[CommittedMessage]) -> None:
        """``SendMessages`` for a group commit; failures are logged (clients recover from history)."""
        if not self.breaker.allow():
            notify_skipped.labels("SendMessages").inc()
            logger.info("notifier circuit open; %d message(s) left to history sync", len(committed))
            return
        request = pb.SendMessagesRequest(messages=[send_request(*item) for item in committed])
        started = time.perf_counter()
        try:
            await self.stub.SendMessages(request, timeout=self.timeout)
        except grpc.RpcError as error:
            code = error.code() if isinstance(error, grpc.aio.AioRpcError) else grpc.StatusCode.UNKNOWN
            self._observe(started, code)
            logger.warning("SendMessages of %d failed: %s (clients recover from history)", len(committed), code.name)
            return
        self._observe(started, grpc.StatusCode.OK)

    def _observe(self, started: float, code: grpc.StatusCode) -> None:
        grpc_request_duration.labels(SERVICE, "SendMessages", code.name).observe(time.perf_counter() - started)
        if code in (grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND):
            self.breaker.record_success()
        else:
            self.breaker.record_failure()

    async def close(self) -> None:
        await self.channel.close(grace=None)


_async_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncNotifierClient] = weakref.WeakKeyDictionary()


def async_notifier() -> AsyncNotifierClient:
    """The running event loop's client for ``NOTIFIER_ADDR`` (grpc.aio channels are per loop)."""
    loop = asyncio.get_running_loop()
    client = _async_clients.get(loop)
    if client is None:
        client = _async_clients[loop] = AsyncNotifierClient(
            settings.NOTIFIER_ADDR, timeout=float(settings.GRPC_TIMEOUT), max_attempts=int(settings.GRPC_MAX_RETRIES)
        )
    return client


async def close_async_notifier() -> None:
    client = _async_clients.pop(asyncio.get_running_loop(), None)
    if client is not None:
        await client.close()
