"""The resilient client: retries from the service config, deadlines, breaker."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent import futures

import grpc
import pytest

from notifier.breaker import CircuitBreaker, State
from notifier.client import NotifierClient, channel_target
from notifier.tests.conftest import ServerThread
from protos.notification.v1 import notification_pb2 as pb
from protos.notification.v1 import notification_pb2_grpc as pb_grpc


class FlakyServicer(pb_grpc.NotificationServiceServicer):
    """Fails the first ``failures`` calls with UNAVAILABLE; can also be slow."""

    def __init__(self, failures: int = 0, delay: float = 0.0) -> None:
        self.failures, self.delay, self.calls = failures, delay, 0
        self.lock = threading.Lock()

    def GetUsersStatus(
        self, request: pb.GetUsersStatusRequest, context: grpc.ServicerContext
    ) -> pb.GetUsersStatusResponse:
        with self.lock:
            self.calls += 1
            fail = self.calls <= self.failures
        if fail:
            context.abort(grpc.StatusCode.UNAVAILABLE, "try again")
        time.sleep(self.delay)
        return pb.GetUsersStatusResponse(statuses=[pb.UserStatus(user_id=u, status="online") for u in request.user_ids])


@pytest.fixture
def flaky() -> Iterator[tuple[FlakyServicer, int]]:
    servicer = FlakyServicer()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    pb_grpc.add_NotificationServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield servicer, port
    server.stop(0)


def test_retries_unavailable_per_service_config(flaky: tuple[FlakyServicer, int]) -> None:
    servicer, port = flaky
    servicer.failures = 2
    client = NotifierClient(f"127.0.0.1:{port}", timeout=5, max_attempts=3)
    assert client.users_status(["u1"]) == {"u1": "online"}
    assert servicer.calls == 3  # two UNAVAILABLE, then success: all within one call
    client.close()


def test_gives_up_after_max_attempts(flaky: tuple[FlakyServicer, int]) -> None:
    servicer, port = flaky
    servicer.failures = 10
    client = NotifierClient(f"127.0.0.1:{port}", timeout=5, max_attempts=3)
    assert client.users_status(["u1"]) is None
    assert servicer.calls == 3
    client.close()


def test_deadline_exceeded_when_server_is_slower(flaky: tuple[FlakyServicer, int]) -> None:
    servicer, port = flaky
    servicer.delay = 0.5
    client = NotifierClient(f"127.0.0.1:{port}", timeout=0.1, max_attempts=2)
    started = time.monotonic()
    assert client.users_status(["u1"]) is None
    assert time.monotonic() - started < 0.45  # the deadline covers every attempt
    client.close()


def test_breaker_opens_fails_fast_then_half_open_probe_closes_it() -> None:
    breaker = CircuitBreaker("t", threshold=3, reset_after=0.2)
    for _ in range(3):
        assert breaker.allow()
        breaker.record_failure()
    assert breaker.state is State.OPEN and not breaker.allow()
    time.sleep(0.25)
    assert breaker.allow() and breaker.state is State.HALF_OPEN
    assert not breaker.allow()  # one probe at a time
    breaker.record_failure()
    assert breaker.state is State.OPEN
    time.sleep(0.25)
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state is State.CLOSED and breaker.allow()


@pytest.mark.django_db(transaction=True)
def test_client_against_dead_then_live_notifier() -> None:
    probe = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    port = probe.add_insecure_port("127.0.0.1:0")  # reserve a free port, serve nothing yet
    client = NotifierClient(f"127.0.0.1:{port}", timeout=0.3, max_attempts=2)
    client.breaker = CircuitBreaker("dead", threshold=2, reset_after=0.3)
    assert client.users_status(["u"]) is None and client.users_status(["u"]) is None
    assert client.breaker.state is State.OPEN
    started = time.monotonic()
    assert client.users_status(["u"]) is None  # fails fast while open
    assert time.monotonic() - started < 0.05
    servicer = FlakyServicer()
    pb_grpc.add_NotificationServiceServicer_to_server(servicer, probe)
    probe.start()
    time.sleep(0.35)
    deadline = time.monotonic() + 5
    result = None
    while result is None and time.monotonic() < deadline:
        result = client.users_status(["u"])
        time.sleep(0.35)
    assert result == {"u": "online"} and client.breaker.state is State.CLOSED
    probe.stop(0)
    client.close()


@pytest.mark.django_db(transaction=True)
def test_health_probe(notifier_server: ServerThread) -> None:
    import asyncio

    client = NotifierClient(f"127.0.0.1:{notifier_server.port}", timeout=2, max_attempts=2)
    assert asyncio.run(client.is_serving())
    client.close()
    dead = NotifierClient("127.0.0.1:1", timeout=0.2, max_attempts=2)
    assert not asyncio.run(dead.is_serving())
    dead.close()


def test_channel_target() -> None:
    assert channel_target("notifier:8081") == "notifier:8081"
    assert channel_target("127.0.0.1:8081,127.0.0.1:8091") == "ipv4:127.0.0.1:8081,127.0.0.1:8091"
    assert channel_target("dns:///notifier:8081") == "dns:///notifier:8081"
