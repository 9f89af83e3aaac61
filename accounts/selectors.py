"""Reads of accounts, and the token check shared by REST and WebSocket."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from django.db import DatabaseError
from django.db.models import QuerySet
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import AccessToken

from accounts.models import RevokedToken, User
from neonchat import kv
from neonchat.errors import NotAuthenticated, NotFound, ServiceUnavailable

_CHECK_ERRORS: tuple[type[Exception], ...] = (*kv.STORE_ERRORS, ValueError, DatabaseError)


def _is_time(value: Any) -> bool:
    """A NumericDate (RFC 7519): a number of seconds, not a string, a bool or a list."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def token_claims(raw_token: str) -> dict[str, Any]:
    """Verify signature (HS256 only), ``exp`` and revocation; return the claims."""
    try:
        token = AccessToken(raw_token)  # type: ignore[arg-type] # simplejwt accepts str/bytes
    except (TokenError, TypeError, ValueError, OverflowError):
        # A signed token with odd claims (exp as a string, a year past 9999) is still just invalid.
        raise NotAuthenticated("The token is invalid or expired.", code="invalid_token") from None
    claims = dict(token.payload)
    if "user_id" not in claims or not _is_time(claims.get("iat")) or not _is_time(claims.get("exp")):
        raise NotAuthenticated("The token is missing required claims.", code="invalid_token")
    if not isinstance(claims.get("jti", ""), str):
        raise NotAuthenticated("The token is invalid.", code="invalid_token")
    jti = claims.get("jti")
    if jti:
        try:
            revoked = token_is_revoked(jti=str(jti))
        except _CHECK_ERRORS:
            raise ServiceUnavailable("Could not check the token; try again.") from None
        if revoked:
            raise NotAuthenticated("The token has been revoked.", code="token_revoked")
    return claims


def token_is_revoked(*, jti: str) -> bool:
    """Redis in stack mode; the database in embedded mode, so revocations outlive restarts."""
    if kv.is_embedded():
        return RevokedToken.objects.filter(jti=jti, expires_at__gt=datetime.now(tz=UTC)).exists()
    return bool(kv.sync_client().exists(f"revoked:{jti}"))


def user_from_token(raw_token: str) -> tuple[User, dict[str, Any]]:
    """The active user a token belongs to, or :class:`NotAuthenticated`."""
    claims = token_claims(raw_token)
    try:
        user = User.objects.get(pk=uuid.UUID(str(claims["user_id"])))
    except (User.DoesNotExist, ValueError):
        raise NotAuthenticated("The token's user does not exist.", code="invalid_token") from None
    if not user.is_active:
        raise NotAuthenticated("This account is disabled.", code="account_disabled")
    return user, claims


def user_get(*, user_id: uuid.UUID | str) -> User:
    try:
        return User.objects.get(pk=user_id)
    except (User.DoesNotExist, ValueError):
        raise NotFound("User not found.", code="user_not_found") from None


def user_search(*, prefix: str, limit: int, exclude_id: uuid.UUID | None = None) -> tuple[list[User], bool]:
    """Active users whose name starts with ``prefix`` (case-insensitive), by name."""
    qs: QuerySet[User] = User.objects.filter(status=User.Status.ACTIVE).order_by("username")
    if exclude_id is not None:
        qs = qs.exclude(pk=exclude_id)
    if prefix:
        qs = qs.filter(username__lower__startswith=prefix.lower())
    rows = list(qs[: limit + 1])
    return rows[:limit], len(rows) > limit
