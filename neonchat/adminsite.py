"""Django admin with its login throttled per account and per client address.

The API's login limit (``LOGIN_RATE_LIMIT_PER_MINUTE``) does not cover
``/admin/login/``, and a staff password is the most valuable one to guess.
django-axes was considered and not taken: its backend needs the request in
every ``authenticate()`` call (the API's login has none), it writes a row per
failed attempt, and it would be a second lock-out store beside the limiter we
already share across processes (Redis in stack mode, in-process in embedded
mode). So the admin login uses that limiter, over a longer window.
"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.http import HttpRequest, HttpResponse

from neonchat import kv
from neonchat.ratelimit import client_ip, hit_window

logger = logging.getLogger(__name__)

ADMIN_LOGIN_ATTEMPTS = 10
ADMIN_LOGIN_WINDOW = 15 * 60  # seconds


def _login_wait(request: HttpRequest) -> tuple[float, str]:
    """Count one attempt per address and per username; (seconds to wait, which limit) or (0, "")."""
    username = str(request.POST.get("username", "")).lower()[:64]
    idents = [f"ip:{client_ip(request)}"] + ([f"name:{username}"] if username else [])
    try:
        for ident in idents:
            wait = hit_window("admin-login", ident, ADMIN_LOGIN_ATTEMPTS, window=ADMIN_LOGIN_WINDOW)
            if wait:
                return wait, ident
    except kv.STORE_ERRORS:
        return 0.0, ""  # fails open, like every limit: the store being down must not lock staff out
    return 0.0, ""


class ThrottledAdminSite(admin.AdminSite):
    """At most ``ADMIN_LOGIN_ATTEMPTS`` login attempts per account and per address in ``ADMIN_LOGIN_WINDOW``."""

    def login(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        if request.method == "POST":
            wait, ident = _login_wait(request)
            if wait:
                logger.warning("admin login locked out: %s (address %s) for %.0f s", ident, client_ip(request), wait)
                minutes = max(1, round(wait / 60))
                return HttpResponse(
                    f"Too many login attempts. Try again in about {minutes} minute(s).",
                    status=429,
                    headers={"Retry-After": str(max(1, round(wait))), "Content-Type": "text/plain; charset=utf-8"},
                )
        return super().login(request, extra_context)


class NeonChatAdminConfig(AdminConfig):
    default_site = "neonchat.adminsite.ThrottledAdminSite"
