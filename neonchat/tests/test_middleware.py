"""The shared sync-and-async middleware: same hooks in both modes, no thread hop under ASGI."""

from __future__ import annotations

import asyncio
import threading

from asgiref.sync import iscoroutinefunction
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory

from neonchat.middleware import SyncAndAsyncMiddleware


class Marking(SyncAndAsyncMiddleware):
    """Answers /stop itself; marks every other response with the thread that ran the hooks."""

    def before(self, request: HttpRequest) -> HttpResponse | None:
        return HttpResponse("stopped", status=418) if request.path == "/stop" else None

    def after(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        response["X-Thread"] = str(threading.get_ident())
        return response


def view(request: HttpRequest) -> HttpResponse:
    return HttpResponse("view")


async def async_view(request: HttpRequest) -> HttpResponse:
    return HttpResponse("view")


def test_sync_mode_runs_both_hooks_inline() -> None:
    middleware = Marking(view)
    assert not iscoroutinefunction(middleware)
    response = middleware(RequestFactory().get("/go"))
    assert response.content == b"view" and response["X-Thread"] == str(threading.get_ident())
    assert middleware(RequestFactory().get("/stop")).status_code == 418


def test_async_mode_runs_both_hooks_on_the_event_loop() -> None:
    middleware = Marking(async_view)
    assert iscoroutinefunction(middleware)

    async def call(path: str) -> tuple[HttpResponse, int]:
        return await middleware(RequestFactory().get(path)), threading.get_ident()

    response, loop_thread = asyncio.run(call("/go"))
    assert response.content == b"view" and response["X-Thread"] == str(loop_thread)
    stopped, _ = asyncio.run(call("/stop"))
    assert stopped.status_code == 418 and stopped.content == b"stopped"
