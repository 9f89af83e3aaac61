"""The demo web client's page (its scripts and styles are static files)."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_safe


@require_safe
def web_client(request: HttpRequest) -> HttpResponse:
    page = (settings.BASE_DIR / "web" / "index.html").read_bytes()
    return HttpResponse(page, content_type="text/html; charset=utf-8")
