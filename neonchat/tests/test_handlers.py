"""The ASGI handler runs requests' sync code on a fixed pool of threads (no thread per request)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import httpx
import pytest
from django.core.signals import request_started

from neonchat.handlers import PooledASGIHandler

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


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
            await http.get("/health/live")  # warm up the pool
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


async def test_only_http_is_handled() -> None:
    with pytest.raises(ValueError, match="websocket"):
        await PooledASGIHandler(threads=1)({"type": "websocket"}, None, None)
