"""The demo web client's page (its scripts and styles are static files)."""

from __future__ import annotations

import json

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_safe


@require_safe
def web_client(request: HttpRequest) -> HttpResponse:
    page = (settings.BASE_DIR / "web" / "index.html").read_text(encoding="utf-8")
    if settings.PUBLIC_WS_URL:
        # Stack mode: tell the page where the gateway is (else it uses its own origin's /ws).
        value = json.dumps(settings.PUBLIC_WS_URL).replace("<", "\\u003c")
        page = page.replace("</head>", f"<script>window.NEONCHAT_WS = {value};</script>\n</head>", 1)
    return HttpResponse(page, content_type="text/html; charset=utf-8")
