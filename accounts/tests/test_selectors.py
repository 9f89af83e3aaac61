"""Token checks remembered per token (only ``exp`` read again) and the caller's profile read."""

from __future__ import annotations

import time
import uuid

import jwt
import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts import selectors
from accounts.models import User
from accounts.services import user_set_banned
from conftest import token_for
from neonchat.errors import NotAuthenticated

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
        profile = selectors.caller_profile(user_id=alice.pk)
    assert profile == {"id": alice.pk, "username": alice.username, "created_at": alice.created_at}
    assert len(queries) == 1


@pytest.mark.parametrize("embedded", [False, True], ids=["postgresql", "orm"])
def test_the_profile_of_a_banned_or_unknown_user_is_401(settings, alice: User, embedded: bool) -> None:
    settings.EMBEDDED_DATABASE = embedded
    user_set_banned(user=alice, banned=True)
    for user_id in (alice.pk, uuid.uuid4()):
        with pytest.raises(NotAuthenticated) as refused:
            selectors.caller_profile(user_id=user_id)
        assert refused.value.code == "invalid_token"
