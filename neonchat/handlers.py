"""Django's ASGI handler with sync request work on a fixed pool of threads.

Django enters a fresh ``ThreadSensitiveContext`` for every request, so
asgiref creates a new single-thread executor, that is a new OS thread, per
request, and the event loop waits while each one starts (``Thread.start`` and
its ``Event.wait`` were 17 % of the api's samples under load). Here a request
borrows one of ``threads`` long-lived single-thread executors for its
thread-sensitive work (sync middleware, the DRF view, signal receivers) and
gives it back when the response is sent: the same semantics per request (one
thread for all of its sync code), no thread churn, and at most ``threads``
requests in sync code at once (each holding at most one pooled database
connection).
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from asgiref.sync import ThreadSensitiveContext
from django.core.handlers.asgi import ASGIHandler


class PooledASGIHandler(ASGIHandler):
    def __init__(self, threads: int) -> None:
        super().__init__()
        self.threads = threads
        self._idle: asyncio.Queue[ThreadPoolExecutor] | None = None

    def _executors(self) -> asyncio.Queue[ThreadPoolExecutor]:
        # Created on first use, inside the server's event loop.
        if self._idle is None:
            self._idle = asyncio.Queue()
            for index in range(self.threads):
                self._idle.put_nowait(ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"request-{index}"))
        return self._idle

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        idle = self._executors()
        executor = await idle.get()
        try:
            async with ThreadSensitiveContext(executor=executor):  # type: ignore[call-arg]
                await self.handle(scope, receive, send)
        finally:
            idle.put_nowait(executor)
