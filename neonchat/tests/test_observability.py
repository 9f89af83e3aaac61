"""The access log (one INFO line per request) and the JSON renderer."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import pytest
from django.utils.translation import gettext_lazy
from rest_framework.test import APIClient

from accounts.models import User
from conftest import token_for
from neonchat.observability import JsonFormatter
from neonchat.renderers import ORJSONRenderer

pytestmark = pytest.mark.django_db


def test_every_request_gets_one_access_line(caplog: pytest.LogCaptureFixture, alice: User) -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(alice)}")
    with caplog.at_level(logging.INFO, logger="neonchat.access"):
        reply = client.get("/api/v1/chats?limit=5&token=secret-value")
        client.get("/health/live")
    lines = [r for r in caplog.records if r.name == "neonchat.access"]
    assert len(lines) == 2
    first = lines[0]
    assert first.levelno == logging.INFO
    assert (first.method, first.status) == ("GET", 200)  # type: ignore[attr-defined]
    assert first.path == "/api/v1/chats?limit=5&token=[redacted]"  # type: ignore[attr-defined]
    assert first.duration_ms >= 0  # type: ignore[attr-defined]
    assert first.request_id == reply.headers["X-Request-ID"]  # type: ignore[attr-defined]
    line = json.loads(JsonFormatter().format(first))
    assert line["logger"] == "neonchat.access" and "secret-value" not in json.dumps(line)
    assert line["message"].startswith("GET /api/v1/chats?limit=5&token=[redacted] 200 ")


def test_orjson_renders_like_drf() -> None:
    data = {"at": datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC), "lazy": gettext_lazy("Not found."), "n": None}
    assert json.loads(ORJSONRenderer().render(data)) == {
        "at": "2026-01-02T03:04:05.678000Z",
        "lazy": "Not found.",
        "n": None,
    }
    assert ORJSONRenderer().render(None) == b""
