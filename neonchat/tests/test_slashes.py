"""Trailing slashes: GET/HEAD redirected to the served path; other methods a 404 naming it."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import User
from conftest import token_for
from neonchat.tests.support import assert_error

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("path", "target"),
    [
        ("/admin", "/admin/"),
        ("/api/docs", "/api/docs/"),
        ("/api/schema", "/api/schema/"),
        ("/api/v1", "/api/v1/"),
        ("/api/v1/chats/", "/api/v1/chats"),
        ("/api/v1/users/me/?x=1", "/api/v1/users/me?x=1"),
        ("/api-auth/login", "/api-auth/login/"),
    ],
)
def test_get_is_redirected(path: str, target: str) -> None:
    for method in ("get", "head"):
        reply = getattr(Client(), method)(path)
        assert reply.status_code == 301, (method, path)
        assert reply["Location"] == target


def test_other_methods_get_a_404_naming_the_path(alice: User) -> None:
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token_for(alice)}")
    error = assert_error(client.post("/api/v1/chats/", {}, content_type="application/json"), 404, "not_found")
    assert error["details"] == {"path": "/api/v1/chats"}
    assert "/api/v1/chats" in error["message"]


@pytest.mark.parametrize("path", ["/api/v1/nope/", "/api/v1/nope", "/nope", "/api/v1//chats/"])
def test_unknown_paths_stay_404(path: str) -> None:
    assert_error(Client().get(path), 404, "not_found")


def test_the_admins_catch_all_does_not_loop(admin_user: User) -> None:
    client = Client()
    client.force_login(admin_user)
    assert client.get("/admin/no-such-page/").status_code == 404
    assert client.get("/admin/no-such-page").status_code in (301, 404)


def test_the_api_root_lists_the_endpoints() -> None:
    reply = Client().get("/api/v1/", HTTP_ACCEPT="application/json")
    assert reply.status_code == 200
    endpoints = reply.json()["endpoints"]
    assert endpoints["chats"] == "http://testserver/api/v1/chats"
    assert endpoints["me"] == "http://testserver/api/v1/users/me"
    assert Client().get("/api/v1/", HTTP_ACCEPT="text/html").status_code == 200
