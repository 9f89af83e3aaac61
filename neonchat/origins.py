"""Which browser ``Origin``s may open a WebSocket (no Origin = not a browser = allowed)."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.http.request import validate_host


def origin_allowed(origin: str | None) -> bool:
    if origin is None:
        return True
    if origin in settings.CORS_ALLOWED_ORIGINS:
        return True
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    return validate_host(parts.hostname, [h for h in settings.ALLOWED_HOSTS if h != "*"])
