"""Services and selectors of accounts, called directly."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from accounts.models import RevokedToken, User
from accounts.selectors import token_claims, user_from_token, user_search
from accounts.services import token_issue, token_revoke, user_login, user_register, user_set_banned
from conftest import PASSWORD
from neonchat import kv
from neonchat.errors import Conflict, InvalidInput, NotAuthenticated

pytestmark = pytest.mark.django_db


def test_register_stores_a_hash_and_login_issues_a_token() -> None:
    user = user_register(username="Erin", password=PASSWORD)
    assert user.password.startswith("bcrypt_sha256$")
    logged_in, token, lifetime = user_login(username="erin", password=PASSWORD)
    assert logged_in.pk == user.pk
    assert lifetime == 86400
    assert token_claims(token)["user_id"] == str(user.pk)


def test_register_conflict_and_invalid_input() -> None:
    user_register(username="frank", password=PASSWORD)
    with pytest.raises(Conflict) as conflict:
        user_register(username="FRANK", password=PASSWORD)
    assert conflict.value.code == "username_taken"
    with pytest.raises(InvalidInput) as invalid:
        user_register(username="no spaces", password=PASSWORD)
    assert invalid.value.code == "invalid_username"
    with pytest.raises(InvalidInput) as weak:
        user_register(username="gina", password="123456")
    assert weak.value.code == "invalid_password"


def test_bcrypt_72_byte_prefix_does_not_collide() -> None:
    prefix = "é" * 36  # 72 bytes of UTF-8
    user_register(username="hank", password=prefix + "-one")
    user = User.objects.get(username="hank")
    assert user.check_password(prefix + "-one")
    assert not user.check_password(prefix + "-two")


def test_revoked_token_fails_until_expiry(alice: User) -> None:
    token, _ = token_issue(user=alice)
    claims = token_claims(token)
    token_revoke(claims=claims)
    ttl = kv.sync_client().ttl(f"revoked:{claims['jti']}")
    assert 0 < ttl <= claims["exp"] - int(time.time()) + 1
    with pytest.raises(NotAuthenticated) as revoked:
        token_claims(token)
    assert revoked.value.code == "token_revoked"


def test_embedded_mode_keeps_revocations_in_the_database(alice: User, settings) -> None:
    """Embedded mode's store is in the process: a revocation there would not survive a restart."""
    settings.REDIS_URL = ""
    token, _ = token_issue(user=alice)
    claims = token_claims(token)
    RevokedToken.objects.create(jti="expired", expires_at=datetime.now(tz=UTC) - timedelta(seconds=1))
    token_revoke(claims=claims)
    assert not RevokedToken.objects.filter(jti="expired").exists()
    kept = RevokedToken.objects.get(jti=claims["jti"])
    assert abs(kept.expires_at.timestamp() - claims["exp"]) <= 2
    kv.sync_client().flushdb()  # nothing of it was in the in-process store
    with pytest.raises(NotAuthenticated) as revoked:
        token_claims(token)
    assert revoked.value.code == "token_revoked"


def test_banned_user_token_is_rejected(alice: User) -> None:
    token, _ = token_issue(user=alice)
    user_set_banned(user=alice, banned=True)
    with pytest.raises(NotAuthenticated) as disabled:
        user_from_token(token)
    assert disabled.value.code == "account_disabled"
    with pytest.raises(NotAuthenticated):
        user_login(username="alice", password=PASSWORD)


def test_ban_sends_sessions_revoked_after_commit(alice: User, django_capture_on_commit_callbacks) -> None:
    from accounts.signals import sessions_revoked

    seen: list[dict] = []

    def receiver(**kwargs: object) -> None:
        seen.append(kwargs)

    sessions_revoked.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            user_set_banned(user=alice, banned=True)
            assert seen == []
        assert len(callbacks) == 1
        assert [(s["user_id"], s["jti"]) for s in seen] == [(str(alice.pk), None)]
    finally:
        sessions_revoked.disconnect(receiver)


def test_user_search_prefix_and_has_more(make_user) -> None:
    for name in ("Quinn", "quill", "quest", "aquinn"):
        make_user(name)
    users, has_more = user_search(prefix="QU", limit=2)
    assert len(users) == 2 and has_more
    users, has_more = user_search(prefix="qui", limit=10)
    assert {u.username for u in users} == {"Quinn", "quill"} and not has_more
