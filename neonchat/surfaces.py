"""A middleware chain per surface.

JSON API requests (``/api/v1/``, health, metrics) need only the request id,
the body limit, security headers, CORS and metrics. Sessions, CSRF, auth,
messages and clickjacking protection serve the browser surfaces: the admin,
the browsable API and its login (``/api-auth/``), Swagger UI and the web
client. The browser-only middleware below is Django's own, wrapped so that it
steps aside for a lean request; it runs in full for every other request, and
for an API request that carries a session cookie (the browsable API, logged in).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.middleware import AuthenticationMiddleware as _Authentication
from django.contrib.messages.middleware import MessageMiddleware as _Messages
from django.contrib.sessions.middleware import SessionMiddleware as _Session
from django.http import HttpRequest
from django.middleware.clickjacking import XFrameOptionsMiddleware as _XFrameOptions
from django.middleware.csrf import CsrfViewMiddleware as _Csrf
from django.utils.deprecation import MiddlewareMixin

LEAN_PREFIXES = ("/api/v1/", "/health/", "/metrics")


def is_lean(request: HttpRequest) -> bool:
    """An API-surface request: a lean path and no session cookie."""
    lean: bool | None = getattr(request, "_neonchat_lean", None)
    if lean is None:
        lean = request.path_info.startswith(LEAN_PREFIXES) and settings.SESSION_COOKIE_NAME not in request.COOKIES
        request._neonchat_lean = lean  # type: ignore[attr-defined]
    return lean


class BrowserOnly(MiddlewareMixin):
    """Steps aside for lean requests; otherwise the Django middleware it is mixed into runs (sync or async)."""

    def __call__(self, request: HttpRequest) -> Any:
        if is_lean(request):
            return self.get_response(request)
        return super().__call__(request)


# Subclasses of Django's own, so Django's checks (admin.E408-E410) still recognise them.
class SessionMiddleware(BrowserOnly, _Session):
    pass


class CsrfViewMiddleware(BrowserOnly, _Csrf):
    def process_view(self, request: HttpRequest, callback: Any, callback_args: Any, callback_kwargs: Any) -> Any:
        if is_lean(request):
            return None
        return super().process_view(request, callback, callback_args, callback_kwargs)


class AuthenticationMiddleware(BrowserOnly, _Authentication):
    pass


class MessageMiddleware(BrowserOnly, _Messages):
    pass


class XFrameOptionsMiddleware(BrowserOnly, _XFrameOptions):
    pass
