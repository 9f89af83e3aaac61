"""A middleware Django runs in either mode without a thread hop.

Django's ``MiddlewareMixin`` also serves both modes, but under ASGI it runs
``process_request``/``process_response`` through ``sync_to_async``: a thread
hop per request for a few lines of code that never block. Subclasses here
write those lines once, as :meth:`before` and :meth:`after`, and they run
on the event loop under ASGI and inline under WSGI.
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponse


class SyncAndAsyncMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def before(self, request: HttpRequest) -> HttpResponse | None:
        """A response that answers the request instead of the view, or None to go on."""
        return None

    def after(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        """The view's response, or one in its place."""
        return response

    def __call__(self, request: HttpRequest) -> Any:
        if iscoroutinefunction(self):
            return self.__acall__(request)
        answered = self.before(request)
        if answered is not None:
            return answered
        return self.after(request, self.get_response(request))

    async def __acall__(self, request: HttpRequest) -> HttpResponse:
        answered = self.before(request)
        if answered is not None:
            return answered
        return self.after(request, await self.get_response(request))
