"""A middleware chain per surface: JSON API requests skip the browser-only middleware."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import User
from conftest import token_for

pytestmark = pytest.mark.django_db


def test_api_requests_skip_sessions_csrf_and_clickjacking(alice: User) -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(alice)}")
    reply = client.get("/api/v1/chats")
    assert reply.status_code == 200
    assert "X-Frame-Options" not in reply.headers
    assert "Vary" not in reply.headers or "Cookie" not in reply.headers["Vary"]
    assert reply.headers["X-Request-ID"]
    assert not hasattr(reply.wsgi_request, "session")


def test_browser_surfaces_keep_the_full_chain() -> None:
    for path in ("/admin/login/", "/api-auth/login/", "/api/docs/", "/"):
        reply = Client().get(path)
        assert reply.status_code == 200, path
        assert reply.headers["X-Frame-Options"] == "DENY", path
        assert hasattr(reply.wsgi_request, "session"), path


def test_an_api_request_with_a_session_cookie_gets_the_full_chain(alice: User) -> None:
    client = Client()
    client.force_login(alice)
    reply = client.get("/api/v1/chats", HTTP_ACCEPT="text/html")
    assert reply.status_code == 200
    assert reply.wsgi_request.user == alice
