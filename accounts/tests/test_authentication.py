"""Bearer requests without a database read; bans, deletions and logouts stay exact; the browsable API's session."""

from __future__ import annotations

import re

import pytest
import redis
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from accounts import selectors
from accounts.models import User
from accounts.services import bans_sync, user_set_banned
from conftest import PASSWORD, token_for
from neonchat import kv
from neonchat.tests.support import assert_error

pytestmark = pytest.mark.django_db

CHATS = "/api/v1/chats"


def bearer(user: User) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(user)}")
    return client


def test_a_bearer_request_reads_no_user_row(alice: User) -> None:
    client = bearer(alice)
    with CaptureQueriesContext(connection) as queries:
        assert client.post("/api/v1/auth/logout").status_code == 204
    assert len(queries) == 0, [q["sql"] for q in queries.captured_queries]


def test_an_unreachable_store_is_503_not_a_pass(monkeypatch: pytest.MonkeyPatch, alice: User) -> None:
    class Broken:
        def __call__(self, **_: object) -> None:
            raise redis.ConnectionError("down")

    monkeypatch.setattr(selectors, "_check_and_count", Broken)
    assert_error(bearer(alice).get(CHATS), 503, "service_unavailable")


def test_a_ban_refuses_the_next_request_and_lifting_it_restores_access(alice: User) -> None:
    client = bearer(alice)
    assert client.get(CHATS).status_code == 200
    user_set_banned(user=alice, banned=True)
    assert_error(client.get(CHATS), 401, "account_disabled")
    user_set_banned(user=alice, banned=False)
    assert client.get(CHATS).status_code == 200


def test_a_ban_is_refused_while_the_store_is_down(monkeypatch: pytest.MonkeyPatch, alice: User) -> None:
    def down(*_: object, **__: object) -> None:
        raise redis.ConnectionError("down")

    monkeypatch.setattr(kv.sync_client(), "set", down)
    with pytest.raises(Exception, match="Could not record the ban"):
        user_set_banned(user=alice, banned=True)
    alice.refresh_from_db()
    assert alice.is_active  # rolled back: the database and the token check agree


def test_bans_are_rebuilt_from_the_database(alice: User) -> None:
    client = bearer(alice)
    user_set_banned(user=alice, banned=True)
    kv.sync_client().flushdb()  # the store lost its data
    assert client.get(CHATS).status_code == 200
    assert bans_sync() == 1
    assert_error(client.get(CHATS), 401, "account_disabled")


def test_a_deleted_users_token_stops_working(alice: User) -> None:
    client = bearer(alice)
    alice.delete()
    assert_error(client.get(CHATS), 401, "account_disabled")


def test_admin_form_lifting_a_ban_restores_access(alice: User) -> None:
    root = User.objects.create_superuser("root", PASSWORD)
    admin = Client()
    admin.force_login(root)
    client = bearer(alice)
    user_set_banned(user=alice, banned=True)
    page = admin.get(f"/admin/accounts/user/{alice.pk}/change/")
    assert page.status_code == 200
    form = {"username": "alice", "status": "active", "last_login_0": "", "last_login_1": ""}
    assert admin.post(f"/admin/accounts/user/{alice.pk}/change/", form).status_code == 302
    alice.refresh_from_db()
    assert alice.is_active
    assert client.get(CHATS).status_code == 200


# --- the browsable API's session ------------------------------------------------------------------------------


def _csrf(page: bytes) -> str:
    match = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert match, page[:300]
    return match.group(1).decode()


@pytest.fixture
def browser(alice: User) -> Client:
    """A browser logged in through the browsable API's login form (CSRF checked)."""
    client = Client(enforce_csrf_checks=True)
    page = client.get("/api-auth/login/?next=/api/v1/chats")
    assert page.status_code == 200
    reply = client.post(
        "/api-auth/login/?next=/api/v1/chats",
        {"username": "alice", "password": PASSWORD, "csrfmiddlewaretoken": _csrf(page.content), "next": CHATS},
    )
    assert reply.status_code == 302 and reply["Location"] == CHATS
    return client


def test_the_browsable_api_login_flow(browser: Client) -> None:
    page = browser.get(CHATS, HTTP_ACCEPT="text/html")
    assert page.status_code == 200
    assert b"alice" in page.content and b"Log out" in page.content


def test_a_session_authenticates_the_browsable_pages_only(browser: Client) -> None:
    assert_error(browser.get(CHATS, HTTP_ACCEPT="application/json"), 401, "not_authenticated")
    assert_error(browser.get(f"{CHATS}?format=json"), 401)


def test_unsafe_browsable_requests_need_the_csrf_token(browser: Client, bob: User) -> None:
    refused = browser.post(CHATS, {"partner_id": str(bob.pk)}, content_type="application/json", HTTP_ACCEPT="text/html")
    assert refused.status_code == 403
    assert b"CSRF" in refused.content


def test_anonymous_browsable_pages_offer_the_login_link() -> None:
    page = Client().get(CHATS, HTTP_ACCEPT="text/html")
    assert page.status_code == 401
    assert b"/api-auth/login/" in page.content


def test_the_login_form_shares_the_login_rate_limit(settings, alice: User) -> None:
    settings.LOGIN_RATE_LIMIT_PER_MINUTE = 2
    client = Client()
    replies = [client.post("/api-auth/login/", {"username": "alice", "password": "wrong"}) for _ in range(3)]
    assert [r.status_code for r in replies] == [200, 200, 429]
    assert replies[-1]["Retry-After"]


def test_a_banned_user_cannot_log_in_to_the_browsable_api(alice: User) -> None:
    user_set_banned(user=alice, banned=True)
    reply = Client().post("/api-auth/login/", {"username": "alice", "password": PASSWORD})
    assert reply.status_code == 200  # the form again, with its error


def test_admin_ban_action_reports_a_store_outage_and_changes_nothing(
    monkeypatch: pytest.MonkeyPatch, alice: User
) -> None:
    root = User.objects.create_superuser("root", PASSWORD)
    admin = Client()
    admin.force_login(root)

    def down(*_: object, **__: object) -> None:
        raise redis.ConnectionError("down")

    monkeypatch.setattr(kv.sync_client(), "set", down)
    reply = admin.post(
        "/admin/accounts/user/", {"action": "ban_users", "_selected_action": [str(alice.pk)]}, follow=True
    )
    assert reply.status_code == 200
    assert b"Could not record the ban" in reply.content
    alice.refresh_from_db()
    assert alice.is_active


def test_the_api_root_shows_the_browsable_session(browser: Client) -> None:
    page = browser.get("/api/v1/", HTTP_ACCEPT="text/html")
    assert page.status_code == 200 and b"alice" in page.content
