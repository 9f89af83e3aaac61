"""Token checks remembered per token (only ``exp`` read again) and the caller's profile: read, stored, refreshed."""

from __future__ import annotations

import time
import uuid

import jwt
import pytest
import redis
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from accounts import selectors, services
from accounts.models import User
from accounts.services import user_set_banned
from conftest import PASSWORD, token_for
from neonchat import kv
from neonchat.errors import NotAuthenticated
from neonchat.tests.support import assert_error

pytestmark = pytest.mark.django_db


def _signed(user: User, **claims: object) -> str:
    now = int(time.time())
    base = {"token_type": "access", "user_id": str(user.pk), "jti": uuid.uuid4().hex, "iat": now, "exp": now + 60}
    return jwt.encode({**base, **claims}, settings.JWT_SECRET, algorithm="HS256")


def test_a_token_seen_before_is_not_decoded_again(alice: User) -> None:
    token = token_for(alice)
    first = selectors._verified_claims(token)
    hits = selectors._checked_claims.cache_info().hits
    second = selectors._verified_claims(token)
    assert second == first and selectors._checked_claims.cache_info().hits == hits + 1
    second["user_id"] = "changed"  # a caller's copy: the remembered claims stay as signed
    assert selectors._verified_claims(token)["user_id"] == str(alice.pk)


def test_a_remembered_token_is_refused_once_it_expires(monkeypatch: pytest.MonkeyPatch, alice: User) -> None:
    token = _signed(alice, exp=int(time.time()) + 30)
    selectors._verified_claims(token)  # checked and remembered
    monkeypatch.setattr(selectors.time, "time", lambda: 10.0**10)
    with pytest.raises(NotAuthenticated) as refused:
        selectors._verified_claims(token)
    assert refused.value.code == "invalid_token"


def test_a_refused_token_is_not_remembered(alice: User) -> None:
    token = _signed(alice, token_type="refresh")
    size = selectors._checked_claims.cache_info().currsize
    for _ in range(2):
        with pytest.raises(NotAuthenticated):
            selectors._verified_claims(token)
    assert selectors._checked_claims.cache_info().currsize == size


@pytest.mark.parametrize("embedded", [False, True], ids=["postgresql", "orm"])
def test_the_caller_profile_is_one_read(settings, alice: User, embedded: bool) -> None:
    settings.EMBEDDED_DATABASE = embedded
    with CaptureQueriesContext(connection) as queries:
        profile = selectors.caller_profile(caller=selectors.Principal(pk=alice.pk, username=alice.username))
    assert profile == {"id": alice.pk, "username": alice.username, "created_at": alice.created_at}
    assert len(queries) == 1


@pytest.mark.parametrize("embedded", [False, True], ids=["postgresql", "orm"])
def test_the_profile_of_a_banned_or_unknown_user_is_401(settings, alice: User, embedded: bool) -> None:
    settings.EMBEDDED_DATABASE = embedded
    user_set_banned(user=alice, banned=True)
    for user_id in (alice.pk, uuid.uuid4()):
        with pytest.raises(NotAuthenticated) as refused:
            selectors.caller_profile(caller=selectors.Principal(pk=user_id, username="x"))
        assert refused.value.code == "invalid_token"


# --- the stored profile (/users/me without a database read) ----------------------------------------------------

ME = "/api/v1/users/me"


def test_me_reads_the_database_once_then_the_store(alice: User, client_for) -> None:
    client = client_for(alice)
    with CaptureQueriesContext(connection) as first_queries:
        first = client.get(ME)
    with CaptureQueriesContext(connection) as second_queries:
        second = client.get(ME)
    assert first.status_code == second.status_code == 200
    assert second.content == first.content  # byte for byte as the database's copy renders
    assert first.json() == {
        "id": str(alice.pk),
        "username": alice.username,
        "created_at": alice.created_at.isoformat().replace("+00:00", "Z"),
    }
    assert (len(first_queries), len(second_queries)) == (1, 0)


def test_a_rename_is_seen_by_the_next_request(alice: User, client_for, django_capture_on_commit_callbacks) -> None:
    client = client_for(alice)
    assert client.get(ME).json()["username"] == "alice"
    with django_capture_on_commit_callbacks(execute=True):
        alice.username = "alice2"
        alice.save()
    with CaptureQueriesContext(connection) as queries:
        assert client.get(ME).json()["username"] == "alice2"
    assert len(queries) == 0  # written again after the commit, not dropped


def test_a_principal_with_its_profile_is_still_the_same_caller(alice: User) -> None:
    bare = selectors.Principal(pk=alice.pk, username="alice")
    stored = selectors.Principal(pk=alice.pk, username="alice", profile={"id": str(alice.pk)})
    assert stored == bare and hash(stored) == hash(bare)


def test_a_request_that_read_the_database_never_replaces_a_newer_copy(alice: User) -> None:
    newer = {"id": str(alice.pk), "username": "newer", "created_at": "2026-01-01T00:00:00Z"}
    kv.sync_client().set(selectors.profile_key(alice.pk), selectors.profile_encoded(newer))
    # A caller without the stored copy (it expired between its check and its read) reads the database...
    profile = selectors.caller_profile(caller=selectors.Principal(pk=alice.pk, username="alice"))
    assert profile["username"] == "alice"
    # ...and writes only where nothing is: the refreshed copy stays.
    assert kv.sync_client().get(selectors.profile_key(alice.pk)) == selectors.profile_encoded(newer).decode()


def test_a_login_does_not_rewrite_the_profile(alice: User, django_capture_on_commit_callbacks) -> None:
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = APIClient().post("/api/v1/auth/login", {"username": "alice", "password": PASSWORD}, format="json")
    assert response.status_code == 200 and callbacks == []
    assert kv.sync_client().get(selectors.profile_key(alice.pk)) is None


def test_a_banned_or_deleted_user_with_a_stored_profile_is_refused(
    alice: User, bob: User, client_for, django_capture_on_commit_callbacks
) -> None:
    clients = {user.username: client_for(user) for user in (alice, bob)}
    for client in clients.values():
        assert client.get(ME).status_code == 200  # both profiles stored
    user_set_banned(user=alice, banned=True)
    assert_error(clients["alice"].get(ME), 401, "account_disabled")
    with django_capture_on_commit_callbacks(execute=True):
        bob.delete()
    assert_error(clients["bob"].get(ME), 401, "account_disabled")
    assert kv.sync_client().get(selectors.profile_key(bob.pk)) is None


def test_a_store_that_fails_after_the_check_still_answers_from_the_database(
    monkeypatch: pytest.MonkeyPatch, alice: User
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise redis.ConnectionError("down")

    monkeypatch.setattr(redis.Redis, "set", refuse)
    profile = selectors.caller_profile(caller=selectors.Principal(pk=alice.pk, username="alice"))
    assert profile["username"] == "alice"


def test_a_lost_refresh_is_logged(monkeypatch: pytest.MonkeyPatch, alice: User, caplog) -> None:
    monkeypatch.setattr(redis.Redis, "set", lambda *a, **k: (_ for _ in ()).throw(redis.ConnectionError("down")))
    services.profile_refresh(user_id=alice.pk)
    assert "could not refresh the stored profile" in caplog.text
