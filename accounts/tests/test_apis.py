"""REST of accounts as a client sees it: register, login, logout, tokens, users."""

from __future__ import annotations

import time
import uuid
from datetime import datetime

import jwt
import pytest
from asgiref.sync import async_to_sync
from django.conf import settings
from rest_framework.test import APIClient

from accounts.models import User
from accounts.services import user_set_banned
from chats.services import chat_get_or_create
from conftest import PASSWORD, token_for
from neonchat.tests.support import assert_error
from presence import store

pytestmark = pytest.mark.django_db

REGISTER = "/api/v1/auth/register"
LOGIN = "/api/v1/auth/login"
LOGOUT = "/api/v1/auth/logout"
ME = "/api/v1/users/me"
USERS = "/api/v1/users"


def post(path: str, body: object, client: APIClient | None = None):
    return (client or APIClient()).post(path, body, format="json")


def bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def login(username: str, password: str = PASSWORD):
    return post(LOGIN, {"username": username, "password": password})


# --- register -------------------------------------------------------------------------------------------------


def test_register_returns_201_with_the_user() -> None:
    response = post(REGISTER, {"username": "dave.K-9_x", "password": PASSWORD})
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {"id", "username", "created_at"}
    assert uuid.UUID(body["id"])
    assert body["username"] == "dave.K-9_x"
    assert body["created_at"].endswith("Z")
    datetime.fromisoformat(body["created_at"])
    user = User.objects.get(pk=body["id"])
    assert user.check_password(PASSWORD)
    assert user.password != PASSWORD


@pytest.mark.parametrize("name", ["alice", "ALICE", "Alice", "aLiCe"])
def test_register_taken_name_in_any_case_is_409(alice: User, name: str) -> None:
    assert_error(post(REGISTER, {"username": name, "password": PASSWORD}), 409, "username_taken")
    assert User.objects.filter(username__iexact="alice").count() == 1


@pytest.mark.parametrize(
    "name",
    [
        "ab",
        "x" * 51,
        "",
        "al ice",
        "alice!",
        "al/ice",
        "al@ice",
        "алиса",
        "ali\x00ce",
        " alice",
        "ålice",
    ],
)
def test_register_invalid_username_is_400(name: str) -> None:
    assert_error(post(REGISTER, {"username": name, "password": PASSWORD}), 400)
    assert not User.objects.exists()


@pytest.mark.parametrize("name", ["admin", "ROOT", "null", "System", "admin.", "_support_", "no-reply"])
def test_register_reserved_name_is_409(name: str) -> None:
    assert_error(post(REGISTER, {"username": name, "password": PASSWORD}), 409, "username_reserved")
    assert not User.objects.exists()


@pytest.mark.parametrize(("existing", "name"), [("bob", "bob."), ("bob", "Bob_"), ("bob", "-bob"), ("bob.", "bob")])
def test_register_lookalike_of_an_existing_name_is_409(make_user, existing: str, name: str) -> None:
    make_user(existing)
    assert_error(post(REGISTER, {"username": name, "password": PASSWORD}), 409, "username_taken")


def test_register_names_that_only_share_a_prefix_are_fine(make_user) -> None:
    make_user("bob")
    for name in ("bobby", "bob.smith", "b.o.b", "bob2"):
        assert post(REGISTER, {"username": name, "password": PASSWORD}).status_code == 201, name


@pytest.mark.parametrize("name", ["carol\n", "abc\n"])
def test_register_username_with_trailing_newline_is_400(name: str) -> None:
    assert_error(post(REGISTER, {"username": name, "password": PASSWORD}), 400)


@pytest.mark.parametrize("name", ["abc", "x" * 50, "A.b-c_9", "___", "..."])
def test_register_username_bounds_and_charset_accepted(name: str) -> None:
    assert post(REGISTER, {"username": name, "password": PASSWORD}).status_code == 201


@pytest.mark.parametrize(
    "password",
    [
        "abc",  # shorter than 6
        "a1b2c",  # 5 chars
        "password",  # common
        "qwerty123",  # common
        "83749261",  # numeric only
        "",
        "x" * 2000,  # over PASSWORD_MAX_LENGTH (1024)
        "y" * 1025,
    ],
)
def test_register_weak_or_oversized_password_is_400(password: str) -> None:
    error = assert_error(post(REGISTER, {"username": "newbie", "password": password}), 400)
    assert "password" in error["details"]
    assert not User.objects.filter(username="newbie").exists()


def test_register_password_similar_to_username_is_400() -> None:
    assert_error(post(REGISTER, {"username": "zebracorn", "password": "zebracorn1"}), 400)


def test_register_and_login_with_long_password() -> None:
    password = "Zq9!" * 250  # 1,000 characters / bytes, under the 1,024 limit
    assert post(REGISTER, {"username": "longpw", "password": password}).status_code == 201
    assert login("longpw", password).status_code == 200
    assert login("longpw", password[:-1]).status_code == 401
    longest = "Kp7#" * 256  # exactly 1,024
    assert post(REGISTER, {"username": "longest", "password": longest}).status_code == 201
    assert login("longest", longest).status_code == 200
    assert login("longest", longest + "x").status_code == 401


def test_passwords_differing_only_after_byte_72_are_different() -> None:
    prefix = "Tr0ub4dor&3-" * 6  # 72 bytes
    assert len(prefix.encode()) == 72
    assert post(REGISTER, {"username": "bcryptcheck", "password": prefix + "first"}).status_code == 201
    assert login("bcryptcheck", prefix + "first").status_code == 200
    assert_error(login("bcryptcheck", prefix + "second"), 401, "invalid_credentials")
    assert_error(login("bcryptcheck", prefix), 401, "invalid_credentials")


def test_register_malformed_json_is_400() -> None:
    response = APIClient().post(REGISTER, '{"username": "x",', content_type="application/json")
    assert_error(response, 400, "malformed_request")


@pytest.mark.parametrize(
    "body",
    [
        {"password": PASSWORD},
        {"username": "missingpw"},
        {},
        {"username": None, "password": PASSWORD},
        {"username": ["abc"], "password": PASSWORD},
        {"username": {"a": 1}, "password": PASSWORD},
        {"username": True, "password": PASSWORD},
        {"username": "typecheck", "password": ["x" * 10]},
        {"username": "typecheck", "password": None},
    ],
)
def test_register_missing_or_wrongly_typed_fields_are_400(body: dict) -> None:
    error = assert_error(post(REGISTER, body), 400, "validation_error")
    assert set(error["details"]) <= {"username", "password"}
    assert error["details"]


def test_register_numeric_username_is_400() -> None:
    assert_error(post(REGISTER, {"username": 12345, "password": PASSWORD}), 400)


@pytest.mark.parametrize("body", ["[1, 2]", '"text"', "42", "null"])
def test_register_non_object_json_is_400(body: str) -> None:
    assert_error(APIClient().post(REGISTER, body, content_type="application/json"), 400)


def test_register_form_encoded_body_is_rejected() -> None:
    response = APIClient().post(REGISTER, {"username": "formuser", "password": PASSWORD})  # multipart
    assert response.status_code == 415
    assert_error(response, 415, "unsupported_media_type")


# --- login ----------------------------------------------------------------------------------------------------


def test_login_returns_token_and_user(alice: User) -> None:
    response = login("alice")
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"token", "expires_in", "user"}
    assert body["expires_in"] == 86400
    assert body["user"] == {"id": str(alice.pk), "username": "alice"}
    assert bearer(body["token"]).get(ME).json()["id"] == str(alice.pk)


def test_me_is_the_user_as_register_returned_it() -> None:
    registered = post(REGISTER, {"username": "frank", "password": PASSWORD}).json()
    token = login("frank").json()["token"]
    response = bearer(token).get(ME)
    assert response.status_code == 200 and response.json() == registered  # same keys, id and time format


def test_login_is_case_insensitive_on_username(alice: User) -> None:
    for name in ("ALICE", "Alice", "aLICE"):
        response = login(name)
        assert response.status_code == 200, name
        assert response.json()["user"] == {"id": str(alice.pk), "username": "alice"}


def test_login_wrong_password_and_unknown_user_look_the_same(alice: User) -> None:
    wrong = login("alice", "not-the-password")
    unknown = login("nobody-here", "not-the-password")
    assert_error(wrong, 401, "invalid_credentials")
    assert (wrong.status_code, wrong.json()) == (unknown.status_code, unknown.json())


@pytest.mark.parametrize("body", [{}, {"username": "alice"}, {"password": PASSWORD}, {"username": "", "password": ""}])
def test_login_missing_fields_is_400(alice: User, body: dict) -> None:
    assert_error(post(LOGIN, body), 400, "validation_error")


def test_login_malformed_json_is_400() -> None:
    assert_error(APIClient().post(LOGIN, "{nope", content_type="application/json"), 400, "malformed_request")


DEEP = '{"username": ' + "[" * 1000 + "]" * 1000 + ', "password": "x"}'


@pytest.mark.parametrize("path", [LOGIN, REGISTER])
def test_deeply_nested_json_is_400_not_500(path: str) -> None:
    assert_error(APIClient().post(path, DEEP, content_type="application/json"), 400, "malformed_request")
    just_too_deep = '{"a": ' + "[" * 32 + "]" * 32 + "}"  # the object is level 1
    assert_error(APIClient().post(path, just_too_deep, content_type="application/json"), 400, "malformed_request")


def test_nested_json_within_the_limit_reaches_validation() -> None:
    deep_enough = '{"username": ' + "[" * 31 + "]" * 31 + ', "password": "x"}'
    assert_error(APIClient().post(LOGIN, deep_enough, content_type="application/json"), 400, "validation_error")


def test_bodies_that_do_not_parse_count_for_the_login_limit(settings) -> None:
    settings.LOGIN_RATE_LIMIT_PER_MINUTE = 2
    for _ in range(2):
        assert_error(APIClient().post(LOGIN, DEEP, content_type="application/json"), 400, "malformed_request")
    assert_error(APIClient().post(LOGIN, DEEP, content_type="application/json"), 429, "rate_limited")
    assert_error(login("alice"), 429, "rate_limited")


def test_login_oversized_password_is_rejected_not_crashing(alice: User) -> None:
    assert_error(login("alice", "z" * 3000), 401, "invalid_credentials")


def test_token_claims_and_header(alice: User) -> None:
    token = login("alice").json()["token"]
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "HS256"
    claims = jwt.decode(token, settings.JWT_SECRET, algorithms=["HS256"])
    assert claims["user_id"] == str(alice.pk)
    assert claims["username"] == "alice"
    assert claims["exp"] - claims["iat"] == 86400
    assert abs(claims["iat"] - time.time()) < 60


# --- token checks ---------------------------------------------------------------------------------------------


def _claims(user: User, **overrides: object) -> dict:
    now = int(time.time())
    claims = {
        "token_type": "access",
        "user_id": str(user.pk),
        "username": user.username,
        "iat": now,
        "exp": now + 3600,
        "jti": uuid.uuid4().hex,
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def test_hand_built_token_with_the_right_key_works(alice: User) -> None:
    """Control for the forgeries below: they fail only for the reason under test."""
    token = jwt.encode(_claims(alice), settings.JWT_SECRET, algorithm="HS256")
    assert bearer(token).get(ME).status_code == 200


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(
            lambda c: jwt.encode(c, "another-key-another-key-another-key!", algorithm="HS256"), id="other-key"
        ),
        pytest.param(lambda c: jwt.encode(c, None, algorithm="none"), id="alg-none"),
        pytest.param(
            lambda c: jwt.encode(c, settings.JWT_SECRET, algorithm="HS512"),
            id="hs512",
            marks=pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning"),
        ),
        pytest.param(lambda c: jwt.encode(c, settings.JWT_SECRET, algorithm="HS256")[:-3] + "AAA", id="tampered"),
        pytest.param(lambda c: "not.a.jwt", id="garbage"),
        pytest.param(lambda c: "", id="empty"),
    ],
)
def test_forged_tokens_are_401(alice: User, forge) -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {forge(_claims(alice))}".rstrip())
    assert_error(client.get(ME), 401)


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"exp": int(time.time()) - 10, "iat": int(time.time()) - 100}, id="expired"),
        pytest.param({"exp": None}, id="no-exp"),
        pytest.param({"iat": None}, id="no-iat"),
        pytest.param({"user_id": None}, id="no-user-id"),
        pytest.param({"user_id": str(uuid.uuid4())}, id="unknown-user"),
        pytest.param({"user_id": "not-a-uuid"}, id="malformed-user-id"),
        pytest.param({"token_type": "refresh"}, id="refresh-type"),
        pytest.param({"exp": "tomorrow"}, id="non-numeric-exp"),
        pytest.param({"exp": [1]}, id="list-exp"),
        pytest.param({"exp": 10**30}, id="huge-exp"),
        pytest.param({"exp": str(int(time.time()) + 3600)}, id="exp-as-a-string"),
        pytest.param({"iat": str(int(time.time()))}, id="iat-as-a-string"),
        pytest.param({"iat": "now"}, id="non-numeric-iat"),
        pytest.param({"jti": {"a": 1}}, id="object-jti"),
        pytest.param({"user_id": 12}, id="numeric-user-id"),
    ],
)
def test_tokens_with_bad_claims_are_401(alice: User, overrides: dict) -> None:
    token = jwt.encode(_claims(alice, **overrides), settings.JWT_SECRET, algorithm="HS256")
    assert_error(bearer(token).get(ME), 401)


@pytest.mark.parametrize("header", ["Bearer", "Bearer a b", "Token abc", "Basic YWxpY2U6cHc="])
def test_malformed_authorization_headers_are_401(alice: User, header: str) -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    assert_error(client.get(ME), 401)


def test_no_token_is_401() -> None:
    assert_error(APIClient().get(ME), 401, "not_authenticated")


# --- logout and bans ------------------------------------------------------------------------------------------


def test_logout_revokes_only_that_token(alice: User) -> None:
    first, second = token_for(alice), token_for(alice)
    assert bearer(first).post(LOGOUT).status_code == 204
    assert_error(bearer(first).get(ME), 401, "token_revoked")
    assert_error(bearer(first).post(LOGOUT), 401, "token_revoked")
    assert bearer(second).get(ME).status_code == 200


def test_logout_needs_a_token() -> None:
    assert_error(APIClient().post(LOGOUT), 401)


def test_banned_user_is_locked_out(alice: User, bob: User) -> None:
    token = token_for(alice)
    user_set_banned(user=alice, banned=True)
    assert_error(bearer(token).get(ME), 401)
    assert_error(bearer(token).get("/api/v1/chats"), 401)
    banned_login = login("alice")
    unknown_login = login("nobody-at-all")
    assert_error(banned_login, 401, "invalid_credentials")
    assert banned_login.json() == unknown_login.json()
    assert bearer(token_for(bob)).get(ME).status_code == 200
    user_set_banned(user=alice, banned=False)
    assert login("alice").status_code == 200


# --- users ----------------------------------------------------------------------------------------------------


def test_me_returns_the_caller(client_for, alice: User) -> None:
    response = client_for(alice).get(ME)
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == str(alice.pk)
    assert body["username"] == "alice"
    assert body["created_at"].endswith("Z")


def test_user_search_is_case_insensitive_prefix(client_for, make_user, alice: User) -> None:
    for name in ("ALBERT", "alfred", "bob", "malice", "al_x"):
        make_user(name)
    response = client_for(alice).get(USERS, {"search": "AL"})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"users", "has_more"}
    names = {u["username"] for u in body["users"]}
    assert names == {"ALBERT", "alfred", "al_x"}  # the caller is not among the results
    assert body["has_more"] is False
    for user in body["users"]:
        assert set(user) == {"id", "username", "online"}
        assert user["online"] is None  # no chat with alice: her presence is not theirs to see


def test_user_search_shows_presence_only_for_chat_partners(client_for, make_user, alice: User) -> None:
    partner, stranger = make_user("alpartner"), make_user("alstranger")
    chat_get_or_create(user_id=alice.pk, partner_id=partner.pk)
    for user in (partner, stranger):
        async_to_sync(store.connection_opened)(str(user.pk), f"conn-{user.pk}")
    body = client_for(alice).get(USERS, {"search": "al"}).json()
    online = {u["username"]: u["online"] for u in body["users"]}
    assert online == {"alpartner": True, "alstranger": None}


def test_user_search_treats_like_wildcards_literally(client_for, make_user, alice: User) -> None:
    make_user("al_x")
    make_user("alpha")
    assert {u["username"] for u in client_for(alice).get(USERS, {"search": "al_"}).json()["users"]} == {"al_x"}
    assert client_for(alice).get(USERS, {"search": "%"}).json()["users"] == []
    assert client_for(alice).get(USERS, {"search": "a%"}).json()["users"] == []


def test_user_search_hides_banned_users(client_for, make_user, alice: User) -> None:
    user_set_banned(user=make_user("mallory"), banned=True)
    assert client_for(alice).get(USERS, {"search": "mal"}).json()["users"] == []


def test_user_search_limit_and_has_more(client_for, make_user, alice: User) -> None:
    for i in range(3):
        make_user(f"zed{i}")
    client = client_for(alice)
    body = client.get(USERS, {"search": "zed", "limit": "2"}).json()
    assert len(body["users"]) == 2 and body["has_more"] is True
    body = client.get(USERS, {"search": "zed", "limit": "3"}).json()
    assert len(body["users"]) == 3 and body["has_more"] is False


def test_user_search_limit_is_clamped_to_100(client_for, alice: User) -> None:
    User.objects.bulk_create([User(username=f"bulk{i:03d}", password="!") for i in range(105)])
    body = client_for(alice).get(USERS, {"search": "bulk", "limit": "1000"}).json()
    assert len(body["users"]) == 100 and body["has_more"] is True
    body = client_for(alice).get(USERS, {"search": "bulk"}).json()
    assert len(body["users"]) == 20 and body["has_more"] is True


@pytest.mark.parametrize("limit", ["abc", "-1", "0", "1.5", "1e3", " "])
def test_user_search_bad_limit_is_400(client_for, alice: User, limit: str) -> None:
    assert_error(client_for(alice).get(USERS, {"limit": limit}), 400, "invalid_limit")


def test_users_need_auth() -> None:
    assert_error(APIClient().get(USERS), 401)
