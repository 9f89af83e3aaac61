"""REST rate limits (per user) and login throttling (per username and per client IP)."""

from __future__ import annotations

import types

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from conftest import PASSWORD, token_for
from neonchat import kv, ratelimit
from neonchat.tests.support import assert_error

pytestmark = pytest.mark.django_db

MINUTE_START = 29_000_000 * 60  # a fixed window start, so no test straddles a minute boundary


@pytest.fixture
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> types.SimpleNamespace:
    clock = types.SimpleNamespace(now=MINUTE_START + 15.0)
    monkeypatch.setattr(ratelimit, "time", types.SimpleNamespace(time=lambda: clock.now))
    return clock


def login(username: str, password: str = PASSWORD, ip: str = "203.0.113.7", **extra: str):
    return APIClient().post(
        "/api/v1/auth/login", {"username": username, "password": password}, format="json", REMOTE_ADDR=ip, **extra
    )


def test_sixth_request_in_a_minute_is_429(settings, frozen_clock, client_for, alice: User, bob: User) -> None:
    settings.RATE_LIMIT_PER_MINUTE = 5
    client = client_for(alice)
    paths = ["/api/v1/users/me", "/api/v1/chats", "/api/v1/users", "/api/v1/chats", "/api/v1/users/me"]
    for path in paths:
        assert client.get(path).status_code == 200, path
    limited = client.get("/api/v1/users/me")
    error = assert_error(limited, 429, "rate_limited")
    assert limited.headers["Retry-After"] == "45"
    assert error["message"]
    # another user has their own budget
    assert client_for(bob).get("/api/v1/users/me").status_code == 200
    # a new window starts fresh
    frozen_clock.now = MINUTE_START + 61.0
    assert client.get("/api/v1/users/me").status_code == 200


def test_limit_is_per_user_across_tokens(settings, frozen_clock, client_for, alice: User) -> None:
    settings.RATE_LIMIT_PER_MINUTE = 3
    for _ in range(3):
        assert client_for(alice).get("/api/v1/users/me").status_code == 200
    assert_error(client_for(alice).get("/api/v1/users/me"), 429, "rate_limited")


def test_store_outage_fails_open(settings, monkeypatch: pytest.MonkeyPatch, alice: User) -> None:
    """The login limit fails open. (A Bearer request's hit shares the token check's round trip,
    and a token that cannot be checked is a 503: accounts' tests.)"""
    import redis

    settings.LOGIN_RATE_LIMIT_PER_MINUTE = 1

    def broken(*args: object, **kwargs: object) -> float:
        raise redis.ConnectionError("down")

    monkeypatch.setattr(ratelimit, "hit_window", broken)
    for _ in range(3):
        assert login("alice").status_code == 200


def test_bearer_requests_count_once_each(settings, frozen_clock, client_for, alice: User) -> None:
    """The token check counts the hit and the throttle reuses it: N requests are N hits, not 2N."""
    settings.RATE_LIMIT_PER_MINUTE = 4
    client = client_for(alice)
    assert [client.get("/api/v1/chats").status_code for _ in range(5)] == [200, 200, 200, 200, 429]
    from neonchat import kv

    key, _ = ratelimit.window_key("user", ratelimit.user_ident(alice.pk))
    assert kv.sync_client().get(key) == "5"


def test_login_throttled_per_username_across_ips(settings, frozen_clock, alice: User) -> None:
    settings.LOGIN_RATE_LIMIT_PER_MINUTE = 3
    for i in range(3):
        assert login("alice", "wrong-password", ip=f"198.51.100.{i}").status_code == 401
    limited = login("alice", PASSWORD, ip="198.51.100.99")  # even the right password
    assert_error(limited, 429, "rate_limited")
    assert int(limited.headers["Retry-After"]) > 0
    assert_error(login("ALICE", PASSWORD, ip="198.51.100.98"), 429, "rate_limited")  # case-insensitive key
    assert login("bob-not-here", "x", ip="198.51.100.97").status_code == 401  # other names unaffected


def test_login_throttled_per_ip_across_usernames(settings, frozen_clock, make_user) -> None:
    settings.LOGIN_RATE_LIMIT_PER_MINUTE = 3
    make_user("victim")
    for name in ("one", "two", "three"):
        assert login(name, "guess", ip="192.0.2.10").status_code == 401
    assert_error(login("victim", PASSWORD, ip="192.0.2.10"), 429, "rate_limited")
    assert login("victim", PASSWORD, ip="192.0.2.11").status_code == 200


def test_forwarded_for_is_ignored_from_untrusted_peers(settings, frozen_clock) -> None:
    settings.LOGIN_RATE_LIMIT_PER_MINUTE = 2
    settings.TRUSTED_PROXIES = []
    for i in range(2):
        login(f"name{i}", "x", ip="192.0.2.20", HTTP_X_FORWARDED_FOR=f"10.9.9.{i}")
    assert_error(login("name9", "x", ip="192.0.2.20", HTTP_X_FORWARDED_FOR="10.9.9.9"), 429)


def test_forwarded_for_is_used_behind_a_trusted_proxy(settings, frozen_clock) -> None:
    settings.LOGIN_RATE_LIMIT_PER_MINUTE = 2
    settings.TRUSTED_PROXIES = ["10.0.0.1"]
    for i in range(2):
        login(f"n{i}", "x", ip="10.0.0.1", HTTP_X_FORWARDED_FOR="192.0.2.50")
    assert_error(login("n9", "x", ip="10.0.0.1", HTTP_X_FORWARDED_FOR="192.0.2.50"), 429)
    assert login("n8", "x", ip="10.0.0.1", HTTP_X_FORWARDED_FOR="192.0.2.51").status_code == 401


def test_registration_shares_the_login_throttle(settings, frozen_clock) -> None:
    settings.LOGIN_RATE_LIMIT_PER_MINUTE = 2
    client = APIClient(REMOTE_ADDR="192.0.2.30")
    for i in range(2):
        response = client.post("/api/v1/auth/register", {"username": f"spam{i}", "password": PASSWORD}, format="json")
        assert response.status_code == 201
    response = client.post("/api/v1/auth/register", {"username": "spam9", "password": PASSWORD}, format="json")
    assert_error(response, 429, "rate_limited")
    assert not User.objects.filter(username="spam9").exists()


def test_hit_window_counts_and_resets(frozen_clock) -> None:
    assert [ratelimit.hit_window("t", "x", 2) for _ in range(2)] == [0.0, 0.0]
    assert ratelimit.hit_window("t", "x", 2) == pytest.approx(45.0)
    assert ratelimit.hit_window("t", "other", 2) == 0.0
    frozen_clock.now += 60
    assert ratelimit.hit_window("t", "x", 2) == 0.0


def test_client_ip_rules(settings) -> None:
    settings.TRUSTED_PROXIES = ["10.0.0.1", "10.0.0.2"]
    meta = types.SimpleNamespace
    assert ratelimit.client_ip(meta(META={"REMOTE_ADDR": "192.0.2.1"})) == "192.0.2.1"
    assert ratelimit.client_ip(meta(META={})) == "unknown"
    spoof = {"REMOTE_ADDR": "192.0.2.1", "HTTP_X_FORWARDED_FOR": "1.2.3.4"}
    assert ratelimit.client_ip(meta(META=spoof)) == "192.0.2.1"
    chain = {"REMOTE_ADDR": "10.0.0.1", "HTTP_X_FORWARDED_FOR": "1.2.3.4, 198.51.100.5, 10.0.0.2"}
    assert ratelimit.client_ip(meta(META=chain)) == "198.51.100.5"


@pytest.mark.skipif(kv.is_embedded(), reason="a connection to a real Redis")
def test_a_connection_broken_inside_redis_py_is_an_outage(
    settings, monkeypatch: pytest.MonkeyPatch, alice: User
) -> None:
    """redis-py 8.1 under load: a reset parser raises AttributeError where it means "connection
    broken" (neonchat.kv._Connection). Login fails open, a Bearer request is a 503, not a 500."""
    settings.LOGIN_RATE_LIMIT_PER_MINUTE = 1
    token_client = APIClient()
    token_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(alice)}")
    pool = kv.sync_client().connection_pool
    connection = pool.get_connection()
    pool.release(connection)

    def reset_parser(*args: object, **kwargs: object) -> None:
        raise AttributeError("'NoneType' object has no attribute 'readline'")

    with monkeypatch.context() as patch:  # undone before the suite's teardown uses the store
        patch.setattr(type(connection._parser), "read_response", reset_parser)
        for _ in range(3):
            assert login("alice").status_code == 200
        assert_error(token_client.get("/api/v1/users/me"), 503, "service_unavailable")
