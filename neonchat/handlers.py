"""Django's ASGI handler, with a request's sync work in one hop on a fixed pool of threads.

Three costs of Django's own handler under ASGI, measured on the api
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
  at most one pooled database connection. A request takes a thread only once
  its body has arrived: clients that send slowly wait on the event loop, not
  on the threads.
* Around the chain, Django's ``handle`` makes two more hops per request: one
  to run ``request_started``'s sync receivers (``asend``), one for
  ``response.close()`` (which sends ``request_finished``). Here
  ``request_started``, the chain, the view and, for a response that is not
  streamed, ``close()`` run in the one hop; the response's bytes are sent
  from the event loop after the database connection went back to the pool. A
  streamed response is closed after it is sent, as Django does.

The health probes (``/health/live``, ``/health/ready``) have threads of their
own, as many as the requests: a probe never queues behind requests that hold
every request thread (a slow query, a lock wait), so an orchestrator does not
restart a process that is busy but alive, nor take it out of service while its
dependencies answer.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.core.handlers.base import BaseHandler
from django.http import FileResponse, HttpResponseBase
from django.urls import set_script_prefix

# Paths served by the probe threads (neonchat/urls.py; no trailing-slash variant is routed).
PROBES = frozenset({"/health/live", "/health/ready"})


def _path_info(scope: Any) -> str:
    """The path as Django routes it: without the mount point (``root_path``)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path.removeprefix(root) if root and path.startswith(root) else path


class PooledASGIHandler(ASGIHandler):
    def __init__(self, threads: int) -> None:
        super().__init__()
        self.sync_handler = BaseHandler()
        self.sync_handler.load_middleware(is_async=False)
        self.threads = threads
        self._idle: dict[str, asyncio.Queue[ThreadPoolExecutor]] = {}

    def _respond(self, scope: Any, body_file: Any) -> HttpResponseBase:
        """A request's sync work in its thread: Django's steps of ``handle`` and ``run_get_response``
        (an async view, such as health, is run back on the event loop by Django)."""
        signals.request_started.send(sender=self.__class__, scope=scope)
        request, refusal = self.create_request(scope, body_file)  # a refusal: 400 or 413 before the chain
        response = cast(HttpResponseBase, refusal) if request is None else self.sync_handler.get_response(request)
        response._handler_class = self.__class__  # type: ignore[attr-defined]
        if isinstance(response, FileResponse):
            response.block_size = self.chunk_size
        if not response.streaming:
            response.close()  # request_finished: the database connection goes back to the pool now
        return response

    async def handle(self, scope: Any, receive: Any, send: Any) -> None:
        """Read the body on the event loop, then run the request's sync work on one of the threads."""
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        try:
            idle = self._executors("probe" if _path_info(scope) in PROBES else "request")
            executor = await idle.get()
            try:
                async with ThreadSensitiveContext(executor=executor):  # type: ignore[call-arg]
                    await self._run(scope, body_file, send)
            finally:
                idle.put_nowait(executor)
        finally:
            body_file.close()

    async def _run(self, scope: Any, body_file: Any, send: Any) -> None:
        set_script_prefix(get_script_prefix(scope))
        response = await sync_to_async(self._respond, thread_sensitive=True)(scope, body_file)
        try:
            # A client gone meanwhile: the server drops what is sent (Django's disconnect watch only
            # stopped waiting; it could not stop the sync view either).
            await self.send_response(response, send)
        finally:
            if response.streaming:  # request_finished even when the send fails
                await sync_to_async(response.close, thread_sensitive=True)()

    def _executors(self, kind: str) -> asyncio.Queue[ThreadPoolExecutor]:
        # Created on first use, inside the server's event loop.
        idle = self._idle.get(kind)
        if idle is None:
            idle = self._idle[kind] = asyncio.Queue()
            for index in range(self.threads):
                idle.put_nowait(ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{kind}-{index}"))
        return idle

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        await self.handle(scope, receive, send)
