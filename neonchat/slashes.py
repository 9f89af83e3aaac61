"""Trailing slashes, one rule for every surface.

The JSON API's paths have no trailing slash (``/api/v1/chats``); Django's
pages have one (``/admin/``, ``/api/docs/``, ``/api/v1/``). A request that
misses only by that slash is redirected (301) when it is a GET or HEAD; any
other method gets the usual 404, whose message names the right path (a
redirected POST would lose its body with most clients). Django's own
``APPEND_SLASH`` is off: it covers one direction only, and in DEBUG raises on
a POST instead of answering.

Only 404 responses are looked at, so a request that matched pays nothing.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponsePermanentRedirect, JsonResponse
from django.urls import Resolver404, resolve
from django.utils.http import escape_leading_slashes

from neonchat.errors import error_body
from neonchat.middleware import SyncAndAsyncMiddleware


def canonical_path(request: HttpRequest) -> str | None:
    """The served path this one differs from by a trailing slash only, if any."""
    path = request.path_info
    candidate = path[:-1] if path.endswith("/") and len(path) > 1 else f"{path}/"
    try:
        match = resolve(candidate, getattr(request, "urlconf", None))
    except Resolver404:
        return None
    # Catch-all views (the admin's) mark themselves as not wanting a slash redirect.
    if not getattr(match.func, "should_append_slash", True):
        return None
    prefix = request.path[: len(request.path) - len(path)]  # SCRIPT_NAME, when mounted under one
    return escape_leading_slashes(f"{prefix}{candidate}")


def _answer(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    if response.status_code != 404:
        return response
    target = canonical_path(request)
    if target is None:
        return response
    if request.method in ("GET", "HEAD"):
        query = request.META.get("QUERY_STRING", "")
        return HttpResponsePermanentRedirect(f"{target}?{query}" if query else target)
    message = f"Not found; did you mean {target}?"
    return JsonResponse(error_body("not_found", message, {"path": target}), status=404)


class TrailingSlashMiddleware(SyncAndAsyncMiddleware):
    """See the module docstring. Sync and async, so it never adds a thread hop."""

    def after(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        return _answer(request, response)
