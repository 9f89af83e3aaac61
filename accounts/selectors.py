"""Reads of accounts, and the token checks shared by REST and WebSocket."""

from __future__ import annotations

import contextlib
import functools
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, ClassVar

import orjson
from django.conf import settings
from django.db import DatabaseError
from django.db.models import QuerySet
from redis.commands.core import Script
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import AccessToken

from accounts.models import RevokedToken, User
from neonchat import kv, ratelimit
from neonchat.db import fetch_rows
from neonchat.errors import NotAuthenticated, ServiceUnavailable

_PROFILE_FIELDS = ("id", "username", "created_at")
PROFILE_FIELDS = frozenset(_PROFILE_FIELDS)
_CHECK_ERRORS: tuple[type[Exception], ...] = (*kv.STORE_ERRORS, ValueError, DatabaseError)


def revoked_key(jti: str) -> str:
    """Set by logout until the token expires."""
    return f"revoked:{jti}"


def banned_key(user_id: object) -> str:
    """Set while a user is banned (or deleted): their tokens stop working at once."""
    return f"banned:{user_id}"


def profile_key(user_id: object) -> str:
    """The caller's profile as ``/users/me`` renders it.

    Written again after every change to it (:func:`accounts.services.profile_refresh`).
    """
    return f"profile:{user_id}"


# How long a profile stays in the store after it was read from the database:
# it bounds how stale one can be if the write after a change was lost.
PROFILE_SECONDS = 600


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller of a Bearer request, from the token's claims alone (no database read).

    ``profile`` is the caller's profile from the store when the request asked
    for it (``/users/me``) and the store had it.
    """

    pk: uuid.UUID
    username: str
    profile: dict[str, Any] | None = field(default=None, compare=False, hash=False)
    is_authenticated: ClassVar[bool] = True
    is_active: ClassVar[bool] = True
    is_staff: ClassVar[bool] = False

    @property
    def id(self) -> uuid.UUID:
        return self.pk

    def __str__(self) -> str:
        return self.username


def _is_time(value: Any) -> bool:
    """A NumericDate (RFC 7519): a number of seconds, not a string, a bool or a list."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@functools.lru_cache(maxsize=4096)
def _checked_claims(raw_token: str) -> MappingProxyType[str, Any]:
    """The claims of a token whose signature, type and claims passed, by token.

    Of a token's checks only ``exp`` can turn from pass to fail as time goes on
    (``nbf``/``iat`` only from fail to pass, and a failure is not cached), so a
    token seen before skips the HMAC and the decoding and only its ``exp`` is
    read again (:func:`_verified_claims`). The signing key is the process's
    (simplejwt builds its backend once). Revocation and bans are never cached.
    """
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
    return MappingProxyType(claims)


def _verified_claims(raw_token: str) -> dict[str, Any]:
    """Signature (HS256 only), ``exp``, token type and the required claims."""
    claims = _checked_claims(raw_token)
    if claims["exp"] <= time.time():  # simplejwt's own test, with its leeway of 0
        raise NotAuthenticated("The token is invalid or expired.", code="invalid_token")
    return dict(claims)


def token_is_revoked(*, jti: str) -> bool:
    """Redis in stack mode; the database in embedded mode, so revocations outlive restarts."""
    if kv.is_embedded():
        return RevokedToken.objects.filter(jti=jti, expires_at__gt=datetime.now(tz=UTC)).exists()
    return bool(kv.sync_client().exists(revoked_key(jti)))


def token_claims(raw_token: str) -> dict[str, Any]:
    """Verify signature (HS256 only), ``exp`` and revocation; return the claims."""
    claims = _verified_claims(raw_token)
    jti = claims.get("jti")
    if jti:
        try:
            revoked = token_is_revoked(jti=str(jti))
        except _CHECK_ERRORS:
            raise ServiceUnavailable("Could not check the token; try again.") from None
        if revoked:
            raise NotAuthenticated("The token has been revoked.", code="token_revoked")
    return claims


def _embedded_refusal(user_id: uuid.UUID, jti: str) -> NotAuthenticated | None:
    """Embedded mode's in-process store starts empty: revocations and bans from
    before a restart are in the database."""
    if jti and token_is_revoked(jti=jti):
        return NotAuthenticated("The token has been revoked.", code="token_revoked")
    if not User.objects.filter(pk=user_id, status=User.Status.ACTIVE).exists():
        return NotAuthenticated("This account is disabled.", code="account_disabled")
    return None


def user_from_token(raw_token: str) -> tuple[User, dict[str, Any]]:
    """The active user a token belongs to (read from the database), or :class:`NotAuthenticated`."""
    claims = token_claims(raw_token)
    try:
        user = User.objects.get(pk=uuid.UUID(str(claims["user_id"])))
    except (User.DoesNotExist, ValueError):
        raise NotAuthenticated("The token's user does not exist.", code="invalid_token") from None
    if not user.is_active:
        raise NotAuthenticated("This account is disabled.", code="account_disabled")
    return user, claims


# Revocation, ban and the per-user rate-limit hit in one atomic round trip,
# and the caller's stored profile when a fourth key names it.
# {-1}: the token is revoked; {-2}: the user is banned or deleted; else
# {the window's count} or {the window's count, the profile or nil}.
_CHECK_AND_COUNT = """
if redis.call('EXISTS', KEYS[1]) == 1 then return {-1} end
if redis.call('EXISTS', KEYS[2]) == 1 then return {-2} end
local count = redis.call('INCR', KEYS[3])
if count == 1 then redis.call('EXPIRE', KEYS[3], ARGV[1]) end
if KEYS[4] then return {count, redis.call('GET', KEYS[4])} end
return {count}
"""


@functools.cache
def _check_and_count() -> Script:
    # redis-py's Script: EVALSHA, loading the source again after a Redis restart.
    return kv.sync_client().register_script(_CHECK_AND_COUNT)


def bearer_principal(
    raw_token: str, *, with_profile: bool = False
) -> tuple[Principal, dict[str, Any], ratelimit.WindowHit]:
    """The caller of a REST request from its token, without reading the database.

    Exact for logouts and bans: one script checks ``revoked:{jti}`` and
    ``banned:{user_id}`` (written by :func:`accounts.services.token_revoke` and
    :func:`accounts.services.user_set_banned` before they return) and counts
    the request against the caller's rate limit, in one round trip. An
    unreachable store is a 503: a token that cannot be checked is not accepted.
    ``with_profile`` also reads the caller's stored profile in that trip.
    """
    claims = _verified_claims(raw_token)
    try:
        user_id = uuid.UUID(str(claims["user_id"]))
    except ValueError:
        raise NotAuthenticated("The token's user does not exist.", code="invalid_token") from None
    key, resets_at = ratelimit.window_key("user", ratelimit.user_ident(user_id))
    keys = [revoked_key(str(claims.get("jti") or "-")), banned_key(user_id), key]
    if with_profile:
        keys.append(profile_key(user_id))
    try:
        reply = _check_and_count()(keys=keys, args=[ratelimit.WINDOW_SECONDS + 1])
        result = int(reply[0])
        profile = orjson.loads(reply[1]) if len(reply) > 1 and reply[1] else None
    except _CHECK_ERRORS:
        raise ServiceUnavailable("Could not check the token; try again.") from None
    if result == -1:
        raise NotAuthenticated("The token has been revoked.", code="token_revoked")
    if result == -2:
        raise NotAuthenticated("This account is disabled.", code="account_disabled")
    if kv.is_embedded() and (refusal := _embedded_refusal(user_id, str(claims.get("jti") or ""))):
        raise refusal
    principal = Principal(pk=user_id, username=str(claims.get("username") or ""), profile=profile)
    return principal, claims, ratelimit.WindowHit(result, resets_at)


# The caller's profile, one primary-key read bound on the server and prepared
# per pooled connection (neonchat.db): the ORM spent ten times the query's own
# cost compiling it (docs/performance.md, "/users/me").
_PROFILE = "SELECT id, username, created_at FROM users WHERE id = %(user)s AND status = %(active)s"


def profile_read(*, user_id: uuid.UUID) -> dict[str, Any] | None:
    """An active user's ``{id, username, created_at}`` from the database, or None."""
    if settings.EMBEDDED_DATABASE:
        found = list(User.objects.filter(pk=user_id, status=User.Status.ACTIVE).values_list(*_PROFILE_FIELDS))
    else:
        found = fetch_rows(_PROFILE, {"user": user_id, "active": User.Status.ACTIVE.value})[1]
    return dict(zip(_PROFILE_FIELDS, found[0], strict=True)) if found else None


def profile_encoded(profile: dict[str, Any]) -> bytes:
    """A profile as stored: the JSON ``/users/me`` renders (datetimes end in ``Z``)."""
    return orjson.dumps(profile, option=orjson.OPT_UTC_Z)


def caller_profile(*, caller: Any) -> dict[str, Any]:
    """The calling user's ``{id, username, created_at}``; a token of a user who is gone is 401.

    From the store when the authentication read it there (:func:`bearer_principal`);
    else from the database, and then kept in the store for the next request
    (only if no fresher copy was written meanwhile: ``NX``).
    """
    if isinstance(caller, Principal) and caller.profile is not None:
        return caller.profile
    profile = profile_read(user_id=caller.pk)
    if profile is None:
        raise NotAuthenticated("The token's user does not exist.", code="invalid_token")
    with contextlib.suppress(*kv.STORE_ERRORS):  # the answer is right; the next request reads the database
        kv.sync_client().set(profile_key(caller.pk), profile_encoded(profile), nx=True, ex=PROFILE_SECONDS)
    return profile


def user_search(*, prefix: str, limit: int, exclude_id: uuid.UUID | None = None) -> tuple[list[User], bool]:
    """Active users whose name starts with ``prefix`` (case-insensitive), by name."""
    qs: QuerySet[User] = User.objects.filter(status=User.Status.ACTIVE).order_by("username")
    if exclude_id is not None:
        qs = qs.exclude(pk=exclude_id)
    if prefix:
        qs = qs.filter(username__lower__startswith=prefix.lower())
    rows = list(qs[: limit + 1])
    return rows[:limit], len(rows) > limit
