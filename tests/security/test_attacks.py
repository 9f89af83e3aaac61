"""Attacks against real processes (OWASP ASVS V9 transport, 4.4/8.2 access
control and data protection, 6.2-6.3 credentials/secrets, 2.x authentication):
forged and revoked JWTs over REST, WebSocket and gRPC; every object route with
another user's ids; WebSocket Origin checks; login enumeration; bcrypt's 72-byte
limit; tokens in logs; per-user rate limits across two api processes; bans;
X-Forwarded-For spoofing; oversized bodies."""

from __future__ import annotations

import base64
import contextlib
import json
import statistics
import time
import uuid
import warnings
from collections.abc import Iterator
from typing import Any

import grpc
import httpx
import jwt
import pytest
from django.conf import settings
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from protos.notification.v1 import notification_pb2 as pb
from protos.notification.v1 import notification_pb2_grpc as pb_grpc
from tests.e2e.conftest import Account, Stack, open_chat, post_message, register
from tests.e2e.procs import Proc, fresh_window, stop_all
from tests.security.conftest import start_extra

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct-horse-battery"
CLOSE_UNAUTHORIZED, CLOSE_FORBIDDEN = 4401, 4403


# ---- helpers ---------------------------------------------------------------------


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_error(reply: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert reply.status_code == status, (reply.status_code, reply.text)
    body = reply.json()
    assert set(body) == {"error"} and {"code", "message", "details"} <= set(body["error"]), body
    if code is not None:
        assert body["error"]["code"] == code, body
    return dict(body)


def ws_open(proc: Proc, token: str | None = None, **kwargs: Any) -> ClientConnection:
    query = {k: v for k, v in {"token": token, "chat_id": kwargs.pop("chat_id", None)}.items() if v is not None}
    url = proc.ws + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")
    return connect(url, open_timeout=10, close_timeout=2, ping_interval=None, **kwargs)


def close_code(ws: ClientConnection, timeout: float = 5) -> int | None:
    """The close code the server ends the connection with (frames before it are skipped)."""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ws.recv(timeout=max(0.01, deadline - time.monotonic()))
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd is not None else None
    except TimeoutError:
        return None
    return None


def drain_until_pong(ws: ClientConnection, timeout: float = 5) -> list[dict[str, Any]]:
    """Send a ping; every frame that arrives before its pong."""
    ws.send('{"type":"ping"}')
    frames: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        frame = json.loads(ws.recv(timeout=max(0.01, deadline - time.monotonic())))
        if frame["type"] == "pong":
            return frames
        frames.append(frame)
    raise AssertionError("no pong")


def login(api: str, username: str, password: str = PASSWORD, **kwargs: Any) -> httpx.Response:
    return httpx.post(f"{api}/api/v1/auth/login", json={"username": username, "password": password}, **kwargs)


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def forge(token: str, kind: str, victim_id: str) -> str:
    """``token`` turned into one kind of forgery (signed with the real secret where that is the point)."""
    claims = jwt.decode(token, options={"verify_signature": False})
    header, _, signature = token.split(".")
    now = int(time.time())
    secret = settings.JWT_SECRET
    none = _b64({"alg": "none", "typ": "JWT"})

    def signed(payload: dict[str, Any], key: str = secret, algorithm: str = "HS256") -> str:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # PyJWT warns about short HMAC keys
            return jwt.encode(payload, key, algorithm=algorithm)

    makers = {
        "alg_none": lambda: f"{none}.{_b64(claims)}.",
        "alg_none_victim": lambda: f"{none}.{_b64({**claims, 'user_id': victim_id})}.",
        "wrong_key": lambda: signed(claims, key="not-the-secret-" * 4),
        "hs512_right_key": lambda: signed(claims, algorithm="HS512"),
        "no_exp": lambda: signed({k: v for k, v in claims.items() if k != "exp"}),
        "expired": lambda: signed({**claims, "iat": now - 7200, "exp": now - 60}),
        "refresh_type": lambda: signed({**claims, "token_type": "refresh"}),
        # the original signature kept over changed claims
        "tampered_user_id": lambda: f"{header}.{_b64({**claims, 'user_id': victim_id})}.{signature}",
        "tampered_exp": lambda: f"{header}.{_b64({**claims, 'exp': now + 10 * 365 * 86400})}.{signature}",
        "garbage": lambda: "eyJnot.a.jwt",
    }
    return makers[kind]()


FORGERIES = [
    "alg_none",
    "alg_none_victim",
    "wrong_key",
    "hs512_right_key",
    "no_exp",
    "expired",
    "refresh_type",
    "tampered_user_id",
    "tampered_exp",
    "garbage",
]


@pytest.fixture
def pair(sec_stack: Stack) -> tuple[Account, Account, str]:
    a, b = register(sec_stack.api.url), register(sec_stack.api.url)
    return a, b, open_chat(sec_stack.api.url, a, b)


@pytest.fixture
def grpc_stub(sec_stack: Stack) -> Iterator[pb_grpc.NotificationServiceStub]:
    channel = grpc.insecure_channel(sec_stack.env["NOTIFIER_ADDR"])
    yield pb_grpc.NotificationServiceStub(channel)
    channel.close()


# ---- JWTs -----------------------------------------------------------------------


def test_forged_tokens_are_refused_over_rest_and_websocket(
    sec_stack: Stack, pair: tuple[Account, Account, str]
) -> None:
    attacker, victim, _ = pair
    api = sec_stack.api.url
    for kind in FORGERIES:
        token = forge(attacker.token, kind, victim.id)
        for path in ("/api/v1/users/me", "/api/v1/chats"):
            body = assert_error(httpx.get(f"{api}{path}", headers=bearer(token), timeout=10), 401)
            assert victim.username not in json.dumps(body) and attacker.username not in json.dumps(body), kind
        with ws_open(sec_stack.gateway, token) as ws:
            assert close_code(ws) == CLOSE_UNAUTHORIZED, kind
        with ws_open(sec_stack.gateway, additional_headers=bearer(token)) as ws:
            assert close_code(ws) == CLOSE_UNAUTHORIZED, kind
    # The genuine token still works (the refusals were about the forgeries).
    assert httpx.get(f"{api}/api/v1/users/me", headers=bearer(attacker.token), timeout=10).status_code == 200


def test_revoked_token_is_refused_everywhere_and_its_sockets_close(sec_stack: Stack) -> None:
    api = sec_stack.api.url
    user = register(api)
    other = login(api, user.username, timeout=10).json()["token"]  # a second session of the same user
    with ws_open(sec_stack.gateway, user.token) as live, ws_open(sec_stack.gateway, other) as survivor:
        drain_until_pong(live)
        assert httpx.post(f"{api}/api/v1/auth/logout", headers=bearer(user.token), timeout=10).status_code == 204
        assert close_code(live) == CLOSE_UNAUTHORIZED
        assert all(f["type"] != "error" for f in drain_until_pong(survivor))  # only that token was revoked
    assert_error(httpx.get(f"{api}/api/v1/users/me", headers=bearer(user.token), timeout=10), 401, "token_revoked")
    with ws_open(sec_stack.gateway, user.token) as ws:
        assert close_code(ws) == CLOSE_UNAUTHORIZED
    assert httpx.get(f"{api}/api/v1/users/me", headers=bearer(other), timeout=10).status_code == 200


# ---- object-level access control --------------------------------------------------


def test_rest_refuses_every_route_on_a_foreign_chat_or_message(sec_stack: Stack) -> None:
    api = sec_stack.api.url
    mallory, friend = register(api), register(api)
    mine = open_chat(api, mallory, friend)
    alice, bob = register(api), register(api)
    theirs = open_chat(api, alice, bob)
    secret = post_message(api, alice, theirs, "the secret plan")
    h = bearer(mallory.token)
    unknown = str(uuid.uuid4())

    attempts = [
        ("GET", f"/api/v1/chats/{theirs}", None),
        ("GET", f"/api/v1/chats/{theirs}/messages", None),
        ("GET", f"/api/v1/chats/{theirs}/messages?after_id={secret['id']}", None),
        ("POST", f"/api/v1/chats/{theirs}/messages", {"text": "injected", "request_id": str(uuid.uuid4())}),
        ("PATCH", f"/api/v1/chats/{theirs}/messages/{secret['id']}", {"text": "defaced"}),
        ("DELETE", f"/api/v1/chats/{theirs}/messages/{secret['id']}", None),
        ("POST", f"/api/v1/chats/{theirs}/read", {"message_id": secret["id"]}),
        # my own chat, their message id
        ("PATCH", f"/api/v1/chats/{mine}/messages/{secret['id']}", {"text": "defaced"}),
        ("DELETE", f"/api/v1/chats/{mine}/messages/{secret['id']}", None),
        ("POST", f"/api/v1/chats/{mine}/read", {"message_id": secret["id"]}),
        ("GET", f"/api/v1/chats/{mine}/messages?after_id={secret['id']}", None),
        ("GET", f"/api/v1/chats/{mine}/messages?before_id={secret['id']}", None),
    ]
    for method, path, body in attempts:
        reply = httpx.request(method, f"{api}{path}", json=body, headers=h, timeout=10)
        error = assert_error(reply, 404)
        text = reply.text
        assert "the secret plan" not in text and alice.id not in text and bob.id not in text, (method, path, text)
        # Same answer as for an id that does not exist at all (no existence leak).
        probe = path.replace(theirs, unknown).replace(secret["id"], str(uuid.uuid4()))
        twin = httpx.request(method, f"{api}{probe}", json=body, headers=h, timeout=10)
        assert twin.status_code == 404 and twin.json()["error"]["code"] == error["error"]["code"], (path, twin.text)
    # Opening a "chat" with a stranger is allowed, but never reveals their chats.
    listed = httpx.get(f"{api}/api/v1/chats", headers=h, timeout=10).json()
    assert theirs not in json.dumps(listed) and "the secret plan" not in json.dumps(listed)
    history = httpx.get(f"{api}/api/v1/chats/{theirs}/messages", headers=bearer(alice.token), timeout=10).json()
    assert [(m["text"], m.get("deleted", False)) for m in history["messages"]] == [("the secret plan", False)]


def test_websocket_refuses_foreign_chats_and_the_victims_hear_nothing(sec_stack: Stack) -> None:
    api = sec_stack.api.url
    mallory, friend = register(api), register(api)
    open_chat(api, mallory, friend)
    alice, bob = register(api), register(api)
    theirs = open_chat(api, alice, bob)
    secret = post_message(api, alice, theirs, "private")
    gw = sec_stack.gateway
    with ws_open(gw, mallory.token, chat_id=theirs) as scoped:
        assert close_code(scoped) == CLOSE_FORBIDDEN
    with ws_open(gw, mallory.token, chat_id="not-a-uuid") as scoped:
        assert close_code(scoped) == CLOSE_FORBIDDEN
    with ws_open(gw, alice.token) as va, ws_open(gw, bob.token, chat_id=theirs) as vb, ws_open(gw, mallory.token) as m:
        for ws in (va, vb):  # presence of each other, before the attack
            drain_until_pong(ws)
        request_id = str(uuid.uuid4())
        frames = [
            {"type": "message", "chat_id": theirs, "text": "injected", "request_id": request_id},
            {"type": "typing", "chat_id": theirs, "is_typing": True},
            {"type": "read", "chat_id": theirs, "message_id": secret["id"]},
        ]
        for frame in frames:
            m.send(json.dumps(frame))
            reply = json.loads(m.recv(timeout=5))
            assert reply["type"] == "error", (frame, reply)
            assert "private" not in json.dumps(reply) and alice.id not in json.dumps(reply)
        assert drain_until_pong(m) == []
        time.sleep(0.5)  # anything misrouted would be on its way by now
        # Presence of each other may still arrive (it is published after the
        # handshake); nothing else may.
        assert [f for f in drain_until_pong(va) if f["type"] != "presence"] == []
        assert [f for f in drain_until_pong(vb) if f["type"] != "presence"] == []
    texts = [
        x["text"]
        for x in httpx.get(f"{api}/api/v1/chats/{theirs}/messages", headers=bearer(bob.token)).json()["messages"]
    ]
    assert texts == ["private"]


def test_grpc_validate_chat_access_of_a_foreign_chat_is_false(
    sec_stack: Stack, grpc_stub: pb_grpc.NotificationServiceStub, pair: tuple[Account, Account, str]
) -> None:
    alice, _, chat_id = pair
    mallory = register(sec_stack.api.url)
    check = grpc_stub.ValidateChatAccess
    assert check(pb.ValidateChatAccessRequest(user_id=alice.id, chat_id=chat_id), timeout=5).has_access
    denied = check(pb.ValidateChatAccessRequest(user_id=mallory.id, chat_id=chat_id), timeout=5)
    assert not denied.has_access and denied.error_message
    assert not check(pb.ValidateChatAccessRequest(user_id=str(uuid.uuid4()), chat_id=chat_id), timeout=5).has_access
    with pytest.raises(grpc.RpcError) as bad:
        check(pb.ValidateChatAccessRequest(user_id="1 OR 1=1", chat_id=chat_id), timeout=5)
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_grpc_send_message_cannot_forge_a_message(
    sec_stack: Stack, grpc_stub: pb_grpc.NotificationServiceStub, pair: tuple[Account, Account, str]
) -> None:
    alice, bob, chat_id = pair
    with ws_open(sec_stack.gateway, alice.token) as victim:
        drain_until_pong(victim)
        forged = pb.SendMessageRequest(
            message_id=str(uuid.uuid4()), chat_id=chat_id, sender_id=bob.id, text="send me your password",
            seq=99, created_at="2030-01-01T00:00:00Z", recipient_ids=[alice.id],
        )  # fmt: skip
        with contextlib.suppress(grpc.RpcError):  # refused: fine
            grpc_stub.SendMessage(forged, timeout=5)
        time.sleep(0.5)
        received = drain_until_pong(victim)
    assert [f for f in received if f["type"] == "new_message"] == []


# ---- WebSocket Origin -----------------------------------------------------------------


def test_websocket_origin_checks(sec_stack: Stack) -> None:
    user = register(sec_stack.api.url)
    gw = sec_stack.gateway
    for origin in ("http://evil.example", "null", "http://127.0.0.1.evil.example", "file://", "https://localhost.evil"):
        with pytest.raises(InvalidStatus) as refused:
            ws_open(gw, user.token, origin=origin)
        assert refused.value.response.status_code == 403, origin
    with ws_open(gw, user.token) as ws:  # no Origin: a non-browser client
        assert drain_until_pong(ws) is not None
    for origin in (f"http://127.0.0.1:{gw.port}", f"http://localhost:{gw.port}"):
        with ws_open(gw, user.token, origin=origin) as ws:
            assert drain_until_pong(ws) is not None


# ---- authentication --------------------------------------------------------------------


def test_login_does_not_tell_unknown_users_from_wrong_passwords(sec_stack: Stack) -> None:
    """Same status and byte-identical body; similar timing (Django hashes a dummy
    password for unknown users). bcrypt cost is 4 in tests, so each login is HTTP
    overhead plus ~1 ms: the medians are compared loosely (within 3x) — this
    catches a skipped hash at production cost, not microsecond differences."""
    api = sec_stack.api.url
    known = register(api)
    with httpx.Client(base_url=api, timeout=10) as client:
        unknown_reply = client.post(
            "/api/v1/auth/login", json={"username": "nobody-" + uuid.uuid4().hex[:8], "password": "Wrong-pass-123"}
        )
        wrong_reply = client.post("/api/v1/auth/login", json={"username": known.username, "password": "Wrong-pass-123"})
        assert unknown_reply.status_code == wrong_reply.status_code == 401
        assert unknown_reply.content == wrong_reply.content
        assert_error(unknown_reply, 401, "invalid_credentials")
        timings: dict[str, list[float]] = {"unknown": [], "wrong": []}
        for i in range(15):
            for label, name in (("unknown", f"nobody{i}{uuid.uuid4().hex[:6]}"), ("wrong", known.username)):
                started = time.perf_counter()
                reply = client.post("/api/v1/auth/login", json={"username": name, "password": f"Wrong-pass-{i}"})
                timings[label].append(time.perf_counter() - started)
                assert reply.status_code == 401 and reply.content == unknown_reply.content
    fast, slow = sorted(statistics.median(t) for t in timings.values())
    assert slow < 3 * fast, timings


def test_register_reveals_taken_names_only_by_contract_409(sec_stack: Stack) -> None:
    api = sec_stack.api.url
    user = register(api)
    reply = httpx.post(f"{api}/api/v1/auth/register", json={"username": user.username.upper(), "password": PASSWORD})
    assert_error(reply, 409, "username_taken")
    assert PASSWORD not in reply.text


def test_passwords_differing_after_byte_72_are_different(sec_stack: Stack) -> None:
    api = sec_stack.api.url
    name = f"long{uuid.uuid4().hex[:10]}"
    common = "Zq8!vR3#" * 9  # 72 bytes
    assert len(common.encode()) == 72
    first, second = common + "-first-suffix", common + "-other-suffix"
    assert httpx.post(f"{api}/api/v1/auth/register", json={"username": name, "password": first}).status_code == 201
    assert_error(login(api, name, second, timeout=10), 401, "invalid_credentials")
    assert_error(login(api, name, common, timeout=10), 401, "invalid_credentials")
    assert login(api, name, first, timeout=10).status_code == 200
    # Multi-byte: 24 three-byte characters are 72 bytes too.
    name2, base = f"mb{uuid.uuid4().hex[:10]}", "\u20ac" * 24
    assert (
        httpx.post(f"{api}/api/v1/auth/register", json={"username": name2, "password": base + "A1b2"}).status_code
        == 201
    )
    assert_error(login(api, name2, base + "Z9y8", timeout=10), 401)


def test_banned_users_socket_closes_and_token_stops_working(sec_stack: Stack) -> None:
    from accounts.models import User
    from accounts.services import user_set_banned

    api = sec_stack.api.url
    user, partner = register(api), register(api)
    open_chat(api, user, partner)
    with ws_open(sec_stack.gateway, user.token) as ws:
        drain_until_pong(ws)
        user_set_banned(user=User.objects.get(pk=user.id), banned=True)
        assert close_code(ws) == CLOSE_UNAUTHORIZED
    assert_error(httpx.get(f"{api}/api/v1/users/me", headers=bearer(user.token), timeout=10), 401, "account_disabled")
    assert_error(login(api, user.username, timeout=10), 401, "invalid_credentials")
    with ws_open(sec_stack.gateway, user.token) as again:
        assert close_code(again) == CLOSE_UNAUTHORIZED
    assert httpx.get(f"{api}/api/v1/users/me", headers=bearer(partner.token), timeout=10).status_code == 200


# ---- secrets in logs ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "level",
    [
        "info",
        "debug",
    ],
)
def test_tokens_never_reach_the_logs(sec_stack: Stack, level: str) -> None:
    api = start_extra(sec_stack, f"api-{level}log", "api", LOG_LEVEL=level)
    gw = start_extra(sec_stack, f"gw-{level}log", "gateway", LOG_LEVEL=level)
    try:
        a, b = register(api.url), register(api.url)
        chat_id = open_chat(api.url, a, b)
        bad = forge(a.token, "wrong_key", b.id)
        secrets = [a.token, b.token, bad]
        with ws_open(gw, a.token) as ws:  # token in the query string
            ws.send(json.dumps({"type": "message", "chat_id": chat_id, "text": "hi", "request_id": str(uuid.uuid4())}))
            ws.send(json.dumps({"type": "message", "chat_id": str(uuid.uuid4()), "text": a.token, "request_id": "x"}))
            drain_until_pong(ws)
        with ws_open(gw, additional_headers=bearer(b.token)) as ws:
            drain_until_pong(ws)
        for token in (bad, "eyJ" + "A" * 40):
            with ws_open(gw, token) as ws:
                close_code(ws)
        with ws_open(gw, a.token, chat_id=str(uuid.uuid4())) as ws:
            close_code(ws)
        for token in (a.token, bad):
            httpx.get(f"{api.url}/api/v1/users/me", headers=bearer(token), timeout=10)
            httpx.get(f"{api.url}/api/v1/chats/{uuid.uuid4()}", headers=bearer(token), timeout=10)
            httpx.get(f"{api.url}/api/v1/users/me", params={"token": token}, timeout=10)
            httpx.get(f"{api.url}/api/v1/nowhere", params={"access_token": token}, headers=bearer(token), timeout=10)
        httpx.post(f"{api.url}/api/v1/chats/{chat_id}/messages", content=b"{not json", headers=bearer(a.token))
        httpx.post(f"{api.url}/api/v1/auth/logout", headers=bearer(a.token), timeout=10)
        with ws_open(gw, a.token) as ws:  # revoked
            close_code(ws)
    finally:
        stop_all(gw, api)
    for proc in (api, gw, sec_stack.api, sec_stack.gateway, sec_stack.notifier):
        output = proc.output()
        for secret in secrets:
            for part in secret.split("."):
                if len(part) > 16:
                    assert part not in output, f"a token fragment is in the {proc.name} log"
        assert "eyJ" not in output, f"a JWT-looking string is in the {proc.name} log"
        assert PASSWORD not in output


# ---- rate limits --------------------------------------------------------------------------


def test_rate_limit_is_per_user_and_shared_by_two_api_processes(sec_stack: Stack) -> None:
    first = start_extra(sec_stack, "api-rl1", "api", RATE_LIMIT_PER_MINUTE="20")
    second = start_extra(sec_stack, "api-rl2", "api", RATE_LIMIT_PER_MINUTE="20")
    try:
        user, other = register(first.url), register(second.url)
        fresh_window()
        for i in range(20):
            proc = (first, second)[i % 2]
            reply = httpx.get(f"{proc.url}/api/v1/users/me", headers=bearer(user.token), timeout=10)
            assert reply.status_code == 200, (i, reply.text)
        limited = httpx.get(f"{first.url}/api/v1/users/me", headers=bearer(user.token), timeout=10)
        assert_error(limited, 429, "rate_limited")
        assert 1 <= int(limited.headers["Retry-After"]) <= 61
        assert httpx.get(f"{second.url}/api/v1/chats", headers=bearer(user.token), timeout=10).status_code == 429
        for proc in (first, second):  # another user is unaffected
            assert httpx.get(f"{proc.url}/api/v1/users/me", headers=bearer(other.token), timeout=10).status_code == 200
    finally:
        stop_all(first, second)


def test_forged_x_forwarded_for_does_not_reset_the_login_throttle(sec_stack: Stack) -> None:
    api = start_extra(sec_stack, "api-login-rl", "api", LOGIN_RATE_LIMIT_PER_MINUTE="3")
    try:
        fresh_window()
        replies = []
        for i in range(4):  # a new name and a new claimed client address each time
            forwarded = {"X-Forwarded-For": f"203.0.113.{i + 1}", "X-Real-IP": f"198.51.100.{i + 1}"}
            replies.append(
                login(api.url, f"guess{i}{uuid.uuid4().hex[:6]}", "Wrong-pass-1", headers=forwarded, timeout=10)
            )
        assert [r.status_code for r in replies[:3]] == [401, 401, 401]
        assert_error(replies[3], 429, "rate_limited")
        assert int(replies[3].headers["Retry-After"]) >= 1
    finally:
        stop_all(api)


# ---- oversized bodies -----------------------------------------------------------------


def test_oversized_rest_body_is_413(sec_stack: Stack, pair: tuple[Account, Account, str]) -> None:
    alice, _, chat_id = pair
    api = sec_stack.api.url
    big = json.dumps({"text": "x" * (70 * 1024), "request_id": str(uuid.uuid4())})
    reply = httpx.post(
        f"{api}/api/v1/chats/{chat_id}/messages",
        content=big,
        headers={**bearer(alice.token), "Content-Type": "application/json"},
        timeout=10,
    )
    assert_error(reply, 413, "payload_too_large")
    huge = json.dumps({"username": "x" * (1024 * 1024), "password": PASSWORD})
    assert_error(
        httpx.post(
            f"{api}/api/v1/auth/register", content=huge, headers={"Content-Type": "application/json"}, timeout=20
        ),
        413,
    )
    assert httpx.get(f"{api}/api/v1/chats/{chat_id}/messages", headers=bearer(alice.token)).json()["messages"] == []


def test_chunked_bodies_are_read_and_limited(sec_stack: Stack, pair: tuple[Account, Account, str]) -> None:
    alice, _, chat_id = pair

    def send_chunked(text: str) -> httpx.Response:
        body = json.dumps({"text": text, "request_id": str(uuid.uuid4())}).encode()
        chunks = (body[i : i + 16 * 1024] for i in range(0, len(body), 16 * 1024))  # no Content-Length
        return httpx.post(
            f"{sec_stack.api.url}/api/v1/chats/{chat_id}/messages",
            content=chunks,
            headers={**bearer(alice.token), "Content-Type": "application/json"},
            timeout=20,
        )

    assert_error(send_chunked("x" * (200 * 1024)), 413, "payload_too_large")
    assert send_chunked("small and chunked").status_code == 201
