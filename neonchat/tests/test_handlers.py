"""The ASGI handler runs requests' sync code on a fixed pool of threads (no thread per request)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from django.core.signals import request_finished, request_started
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.urls import path

from neonchat.handlers import PooledASGIHandler
from neonchat.urls import urlpatterns as neonchat_urls

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


async def _chunks() -> AsyncIterator[bytes]:
    yield b"first,"
    yield b"second"


def _streamed(request: HttpRequest) -> StreamingHttpResponse:
    return StreamingHttpResponse(_chunks())


_unstuck = threading.Event()
_stuck_count = threading.Semaphore(0)


def _stuck(request: HttpRequest) -> HttpResponse:
    """A request holding its thread: a slow query, a lock wait."""
    _stuck_count.release()
    _unstuck.wait(timeout=30)
    return HttpResponse(b"done")


urlpatterns = [path("streamed", _streamed), path("stuck", _stuck), *neonchat_urls]  # the urls marker's urlconf


@contextmanager
def _signals(events: list[tuple[str, Any]]) -> Iterator[None]:
    def started(**_: Any) -> None:
        events.append(("started", threading.get_ident()))

    def finished(**_: Any) -> None:  # the connection goes back to the pool in this receiver's thread
        events.append(("finished", threading.get_ident()))

    request_started.connect(started)
    request_finished.connect(finished)
    try:
        yield
    finally:
        request_started.disconnect(started)
        request_finished.disconnect(finished)


async def _call(handler: PooledASGIHandler, path: str, events: list[tuple[str, Any]], *, fail: bool = False) -> None:
    scope: dict[str, Any] = {"type": "http", "method": "GET", "path": path, "query_string": b"", "headers": []}
    scope |= {"asgi": {"version": "3.0"}, "http_version": "1.1", "scheme": "http", "root_path": "", "server": ("t", 80)}

    body = [{"type": "http.request", "body": b"", "more_body": False}]

    async def receive() -> dict[str, Any]:  # the body, then a client that stays connected
        if body:
            return body.pop()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        if fail:
            raise OSError("the client's socket broke")
        events.append(("sent", message["type"]))

    await handler(scope, receive, send)


async def test_a_request_is_one_hop_and_gives_its_connection_back_before_the_bytes_go() -> None:
    handler, events = PooledASGIHandler(threads=2), list[tuple[str, Any]]()
    with _signals(events):
        await _call(handler, "/api/v1/chats", events)  # a sync DRF view (401 here): the chain in the thread
    (started, thread), (finished, same_thread), *sent = events
    assert (started, finished) == ("started", "finished")
    assert thread == same_thread != threading.main_thread().ident
    assert sent == [("sent", "http.response.start"), ("sent", "http.response.body")]


@pytest.mark.urls(__name__)
async def test_a_streamed_response_is_closed_after_it_is_sent() -> None:
    handler, events = PooledASGIHandler(threads=1), list[tuple[str, Any]]()
    with _signals(events):
        await _call(handler, "/streamed", events)
    (started, thread), *sent, (finished, same_thread) = events
    assert (started, finished) == ("started", "finished")
    assert thread == same_thread  # closed in the request's own thread, after the last chunk went
    assert sent == [("sent", "http.response.start")] + [("sent", "http.response.body")] * len(sent[1:])
    assert len(sent) >= 3  # the two chunks (and the closing empty body) were sent before the close


@pytest.mark.urls(__name__)
async def test_a_streamed_response_is_closed_when_its_send_fails() -> None:
    handler, events = PooledASGIHandler(threads=1), list[tuple[str, Any]]()
    with _signals(events), pytest.raises(OSError):
        await _call(handler, "/streamed", events, fail=True)
    assert [event for event, _ in events] == ["started", "finished"]  # the connection went back all the same


async def test_sync_request_code_runs_on_the_pool_and_requests_overlap() -> None:
    handler = PooledASGIHandler(threads=3)
    seen: set[int] = set()
    lock = threading.Lock()

    def record(**_: Any) -> None:  # a sync receiver: runs in the request's thread-sensitive thread
        with lock:
            seen.add(threading.get_ident())

    request_started.connect(record)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=handler), base_url="http://127.0.0.1") as http:
            await http.get("/")  # warm up the pool
            before = threading.active_count()
            replies = await asyncio.gather(*(http.get("/") for _ in range(30)))
            after = threading.active_count()
    finally:
        request_started.disconnect(record)
    assert [r.status_code for r in replies] == [200] * 30
    assert b"NeonChat" in replies[0].content
    assert 1 <= len(seen) <= 3, seen  # three long-lived threads served all 31 requests
    assert threading.main_thread().ident not in seen
    assert after <= before + 3  # no thread per request


async def test_a_request_waiting_for_its_body_holds_no_thread() -> None:
    handler = PooledASGIHandler(threads=1)
    scope: dict[str, Any] = {"type": "http", "method": "POST", "path": "/api/v1/auth/login", "query_string": b""}
    scope |= {"headers": [(b"content-type", b"application/json"), (b"content-length", b"40")]}
    scope |= {"asgi": {"version": "3.0"}, "http_version": "1.1", "scheme": "http", "root_path": "", "server": ("t", 80)}
    first_part = asyncio.Event()

    async def slow_body() -> dict[str, Any]:  # half of the body, then a client that sends nothing more
        if not first_part.is_set():
            first_part.set()
            return {"type": "http.request", "body": b'{"username": "al', "more_body": True}
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def dropped(message: dict[str, Any]) -> None:
        raise AssertionError("the slow request got an answer")

    slow = asyncio.create_task(handler(scope, slow_body, dropped))
    await first_part.wait()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=handler), base_url="http://127.0.0.1") as http:
            reply = await asyncio.wait_for(http.get("/health/live"), timeout=10)  # the one thread is free
        assert reply.status_code == 200
    finally:
        slow.cancel()


@pytest.mark.urls(__name__)
async def test_the_health_probes_answer_while_every_request_thread_is_held() -> None:
    handler = PooledASGIHandler(threads=2)
    _unstuck.clear()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=handler), base_url="http://127.0.0.1") as http:
        stuck = [asyncio.create_task(http.get("/stuck")) for _ in range(3)]  # two hold the threads, one waits
        try:
            for _ in range(2):
                assert await asyncio.to_thread(_stuck_count.acquire, timeout=10)
            live = await asyncio.wait_for(http.get("/health/live"), timeout=10)
            ready = await asyncio.wait_for(http.get("/health/ready"), timeout=10)
            assert not any(task.done() for task in stuck)  # the requests still hold both threads
        finally:
            _unstuck.set()
        replies = await asyncio.wait_for(asyncio.gather(*stuck), timeout=10)
        assert await asyncio.to_thread(_stuck_count.acquire, timeout=10)  # the third ran once a thread was free
    assert (live.status_code, live.json()) == (200, {"status": "alive"})
    assert ready.json()["checks"]["database"] == "healthy"
    assert [reply.content for reply in replies] == [b"done"] * 3


async def test_only_http_is_handled() -> None:
    with pytest.raises(ValueError, match="websocket"):
        await PooledASGIHandler(threads=1)({"type": "websocket"}, None, None)
