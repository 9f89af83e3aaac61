"""One error shape everywhere, and request ids on every response."""

from __future__ import annotations

import json
import re

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from neonchat.errors import (
    ApplicationError,
    Conflict,
    InvalidInput,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    RateLimited,
    ServiceUnavailable,
    error_body,
)
from neonchat.rest import drf_exception_handler
from neonchat.tests.support import assert_error

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/api/v1/nope", "/api/v1/chats/not-a-uuid", "/api/v1/nope/", "/api/v2/chats"])
def test_unknown_api_path_is_404_in_error_shape(client_for, alice: User, path: str) -> None:
    assert_error(client_for(alice).get(path), 404, "not_found")


def test_unknown_path_without_auth_is_404_too() -> None:
    assert_error(APIClient().get("/api/v1/definitely/not/here"), 404, "not_found")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("put", "/api/v1/chats"),
        ("delete", "/api/v1/chats"),
        ("get", "/api/v1/auth/logout"),
        ("patch", "/api/v1/users/me"),
    ],
)
def test_wrong_method_is_405_in_error_shape(client_for, alice: User, method: str, path: str) -> None:
    assert_error(getattr(client_for(alice), method)(path), 405, "method_not_allowed")


@pytest.mark.parametrize("path", ["/api/v1/auth/login", "/api/v1/auth/register"])
def test_get_on_post_only_public_endpoint_is_405(path: str) -> None:
    assert_error(APIClient().get(path), 405, "method_not_allowed")


def test_oversized_body_is_413() -> None:
    body = json.dumps({"username": "x" * 70_000, "password": "y"})
    response = APIClient().post("/api/v1/auth/register", body, content_type="application/json")
    assert_error(response, 413, "payload_too_large")


def test_validation_error_details_list_fields(client_for, alice: User) -> None:
    error = assert_error(client_for(alice).post("/api/v1/chats", {}, format="json"), 400, "validation_error")
    assert isinstance(error["details"]["partner_id"], list)
    assert error["message"].startswith("partner_id:")


def test_given_request_id_is_echoed(client_for, alice: User) -> None:
    client = client_for(alice)
    assert client.get("/api/v1/users/me", HTTP_X_REQUEST_ID="trace-abc.123:x").headers["X-Request-ID"] == (
        "trace-abc.123:x"
    )
    assert APIClient().get("/api/v1/nowhere", HTTP_X_REQUEST_ID="r-404").headers["X-Request-ID"] == "r-404"
    assert APIClient().get("/health/live", HTTP_X_REQUEST_ID="r-live").headers["X-Request-ID"] == "r-live"


@pytest.mark.parametrize("given", [None, "", "has spaces", "x" * 129, "semi;colon", "new\nline"])
def test_missing_or_unsafe_request_id_is_replaced(given: str | None) -> None:
    headers = {} if given is None else {"HTTP_X_REQUEST_ID": given}
    response = APIClient().get("/api/v1/users/me", **headers)
    assert response.status_code == 401
    generated = response.headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    other = APIClient().get("/api/v1/users/me", **headers).headers["X-Request-ID"]
    assert other != generated


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (InvalidInput(), 400),
        (NotAuthenticated(), 401),
        (PermissionDenied(), 403),
        (NotFound(), 404),
        (Conflict(), 409),
        (RateLimited(retry_after=2.4), 429),
        (ServiceUnavailable(), 503),
    ],
)
def test_application_errors_translate_to_status_and_shape(error: ApplicationError, status: int) -> None:
    response = drf_exception_handler(error, {})
    assert response is not None and response.status_code == status
    assert response.data == error_body(error.code, error.message, {})
    if status == 429:
        assert response.headers["Retry-After"] == "2"


def test_error_code_and_details_override() -> None:
    error = InvalidInput("bad thing", code="bad_thing", details={"field": ["nope"]})
    assert error_body(error.code, error.message, error.details) == {
        "error": {"code": "bad_thing", "message": "bad thing", "details": {"field": ["nope"]}}
    }
    assert InvalidInput().code == "invalid_input"  # the override is per instance


def test_unexpected_exception_is_500_in_error_shape(monkeypatch: pytest.MonkeyPatch, alice: User) -> None:
    from chats import apis
    from conftest import token_for

    def explode(**kwargs: object) -> None:
        raise RuntimeError("unexpected")

    monkeypatch.setattr(apis, "chat_list", explode)
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(alice)}")
    error = assert_error(client.get("/api/v1/chats"), 500, "internal_error")
    assert "unexpected" not in error["message"]  # no internals leak


def test_request_id_with_trailing_newline_is_replaced() -> None:
    response = APIClient(raise_request_exception=False).get("/health/live", HTTP_X_REQUEST_ID="abc\n")
    assert response.status_code == 200
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-ID"])
