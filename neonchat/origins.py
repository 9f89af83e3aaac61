"""Which WebSocket handshakes a browser may make: the ``Host`` and the ``Origin``.

``Host`` must be one of ``ALLOWED_HOSTS``, as for every HTTP request.
``Origin`` (absent = not a browser = allowed) must be listed in
``CORS_ALLOWED_ORIGINS`` or be http(s) on one of ``ALLOWED_HOSTS``, on any
port: the page is served by the api (8080) and the socket by the gateway
(8082). The port is deliberately not compared: the socket authenticates with a
bearer token the page must hold, never a cookie, so another page of an allowed
host gains nothing it does not already have (docs/reliability.md, security).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.http.request import split_domain_port, validate_host


def origin_allowed(origin: str | None) -> bool:
    if origin is None:
        return True
    if origin in settings.CORS_ALLOWED_ORIGINS:
        return True
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    return validate_host(parts.hostname, [h for h in settings.ALLOWED_HOSTS if h != "*"])


def host_allowed(host: str | None) -> bool:
    """The handshake's ``Host`` header (absent: not a browser) against ``ALLOWED_HOSTS``."""
    if host is None:
        return True
    domain, _port = split_domain_port(host)
    return bool(domain) and validate_host(domain, settings.ALLOWED_HOSTS)
