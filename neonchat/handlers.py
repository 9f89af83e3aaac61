"""Django's ASGI handler, with a request's sync work in one hop on a fixed pool of threads.

Two costs of Django's own handler under ASGI, both measured on the api
(docs/performance.md):

* Every ``MiddlewareMixin`` middleware (Django's security, session, common,
  CSRF, auth, messages, clickjacking; prometheus, CORS) is "async capable" by
  running its ``process_request``/``process_response`` through
  ``sync_to_async``: a dozen thread hops per request around a sync DRF view.
  Here the whole middleware chain, built in sync mode, and the view run in
  **one** hop (an async view, such as health, is run back on the event loop
  by Django as usual).
* Django enters a fresh ``ThreadSensitiveContext`` per request, so asgiref
  starts a new OS thread per request, and the event loop waits while it
  starts (a large share of the api's profile under load: docs/performance.md,
  "Before issue 16"). Here a request borrows one of ``threads`` long-lived
  single-thread executors and gives it back when the response is sent: the
  same semantics (one thread for all of a request's sync code), no thread
  churn, and at most ``threads`` requests in sync code at once, each holding
  at most one pooled database connection.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.base import BaseHandler
from django.http import HttpRequest, HttpResponseBase


class PooledASGIHandler(ASGIHandler):
    def __init__(self, threads: int) -> None:
        super().__init__()
        self.sync_handler = BaseHandler()
        self.sync_handler.load_middleware(is_async=False)
        self.threads = threads
        self._idle: asyncio.Queue[ThreadPoolExecutor] | None = None

    async def get_response_async(self, request: HttpRequest) -> HttpResponseBase:
        # The whole sync chain and the view in one hop (an async view is run back on the loop by Django).
        return await sync_to_async(self.sync_handler.get_response, thread_sensitive=True)(request)

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
