"""Static files (admin, Swagger UI, the web client) served on the event loop, in front of Django.

ServeStatic's Django middleware is async-only: in a middleware chain that runs
in one pooled thread (``neonchat/handlers.py``), Django wraps it in
``async_to_sync``, so every request, static or not, went thread -> event loop
-> thread. Here the same file index (built by ServeStatic from the same
``SERVESTATIC_*`` settings, finders included) answers ``STATIC_URL`` paths
before Django is entered, through ServeStatic's own ASGI file server; every
other request goes to Django untouched. What Django's SecurityMiddleware does
to every response is done here too: its headers on a static file
(``security_headers``) and, with ``SECURE_SSL_REDIRECT``, its redirect of a
plain-HTTP request to HTTPS (``https_redirect``), by the middleware itself.
"""

from __future__ import annotations

import io
from typing import Any
from wsgiref.headers import Headers

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponseBadRequest, HttpResponseBase
from django.middleware.security import SecurityMiddleware
from servestatic.asgi import FileServerASGI
from servestatic.middleware import ServeStaticMiddleware
from servestatic.utils import decode_path_info, run_async_in_thread

from neonchat.roles import ASGIApp, Receive, Scope, Send


async def _never_called(request: HttpRequest) -> HttpResponseBase:  # pragma: no cover - the index only
    raise AssertionError("the static file index does not answer requests")


def security_headers(headers: Headers, path: str, url: str) -> None:
    """What ``SecurityMiddleware`` sets on every response, for a static file's."""
    if settings.SECURE_CONTENT_TYPE_NOSNIFF:
        headers["X-Content-Type-Options"] = "nosniff"
    if settings.SECURE_HSTS_SECONDS:
        hsts = f"max-age={settings.SECURE_HSTS_SECONDS}"
        headers["Strict-Transport-Security"] = hsts + (
            "; includeSubDomains" if settings.SECURE_HSTS_INCLUDE_SUBDOMAINS else ""
        )
    if settings.SECURE_REFERRER_POLICY:
        headers["Referrer-Policy"] = settings.SECURE_REFERRER_POLICY
    if settings.SECURE_CROSS_ORIGIN_OPENER_POLICY:
        headers["Cross-Origin-Opener-Policy"] = settings.SECURE_CROSS_ORIGIN_OPENER_POLICY


def https_redirect(scope: Scope) -> HttpResponseBase | None:
    """SecurityMiddleware's answer to a plain-HTTP request when ``SECURE_SSL_REDIRECT`` is on
    (a 301 to HTTPS, unless exempt or already secure behind ``SECURE_PROXY_SSL_HEADER``), a
    400 for a ``Host`` outside ``ALLOWED_HOSTS`` (as Django answers), else None."""
    if not settings.SECURE_SSL_REDIRECT:
        return None
    request = ASGIRequest(scope, io.BytesIO())  # type: ignore[arg-type]
    try:
        return SecurityMiddleware(_never_called).process_request(request)  # type: ignore[arg-type]
    except DisallowedHost:
        return HttpResponseBadRequest()


async def _send(response: HttpResponseBase, send: Send) -> None:
    headers = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in response.items()]
    await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": getattr(response, "content", b"")})


class _Settings:
    """Django's settings with the security headers as ServeStatic's header hook."""

    SERVESTATIC_ADD_HEADERS_FUNCTION = staticmethod(security_headers)

    def __getattr__(self, name: str) -> Any:
        return getattr(settings, name)


class StaticFiles:
    """``app`` with ``STATIC_URL`` served by ServeStatic on the event loop."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.index = ServeStaticMiddleware(_never_called, settings=_Settings())  # type: ignore[arg-type]

    async def _find(self, path: str) -> Any:
        if self.index.autorefresh:  # DEBUG: files may change; look them up on disk
            return await run_async_in_thread(self.index.find_file, path)
        return self.index.files.get(path)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(self.index.static_prefix):
            static_file = await self._find(decode_path_info(scope["path"]))
            if static_file is not None:
                if (refusal := https_redirect(scope)) is not None:
                    await _send(refusal, send)
                    return
                await FileServerASGI(static_file)(scope, receive, send)  # type: ignore[arg-type]
                return
        await self.app(scope, receive, send)
