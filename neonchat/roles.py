"""What a process serves, by its role (``manage.py serve --role``).

* ``all`` (embedded mode, ``make run``): everything on one port.
* ``api``: HTTP (REST, admin, docs, the web client, health, metrics); a
  WebSocket handshake is refused, so a client pointed at the wrong port fails
  at once instead of loading the api with long-lived connections.
* ``gateway``: WebSocket, plus the health and metrics endpoints its supervisor,
  balancer and Prometheus read; any other HTTP path is a 404 in the error shape.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string

from neonchat.errors import error_body

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

ROLES = ("all", "api", "gateway")
GATEWAY_HTTP_PREFIXES = ("/health/", "/metrics")
_NOT_FOUND = json.dumps(error_body("not_found", "Not found.")).encode()


def serving(app: ASGIApp, role: str) -> ASGIApp:
    """``app`` limited to what ``role`` serves."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    if role == "all":
        return app

    async def limited(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and role == "api":
            await receive()  # websocket.connect; closing before accept refuses the handshake (HTTP 403)
            await send({"type": "websocket.close", "code": 1008})
        elif scope["type"] == "http" and role == "gateway" and not scope["path"].startswith(GATEWAY_HTTP_PREFIXES):
            headers = [(b"content-type", b"application/json"), (b"content-length", str(len(_NOT_FOUND)).encode())]
            await send({"type": "http.response.start", "status": 404, "headers": headers})
            await send({"type": "http.response.body", "body": _NOT_FOUND})
        else:
            await app(scope, receive, send)

    return limited


def _settings_application() -> ASGIApp:
    app: ASGIApp = import_string(settings.ASGI_APPLICATION)
    return app


# Factories by import string (``uvicorn.Config(..., factory=True)``): with
# ``--workers`` uvicorn spawns its workers and hands each the app by name.
def all_application() -> ASGIApp:
    return serving(_settings_application(), "all")


def api_application() -> ASGIApp:
    return serving(_settings_application(), "api")


def gateway_application() -> ASGIApp:
    return serving(_settings_application(), "gateway")
