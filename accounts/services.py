"""Every write of accounts: registration, login tokens, logout, bans."""

from __future__ import annotations

import logging
import re
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import DatabaseError, IntegrityError, transaction
from rest_framework_simplejwt.tokens import AccessToken

from accounts.models import USERNAME_MAX, USERNAME_MIN, USERNAME_PATTERN, RevokedToken, User
from accounts.selectors import PROFILE_SECONDS, banned_key, profile_encoded, profile_key, profile_read, revoked_key
from accounts.signals import sessions_revoked
from neonchat import kv
from neonchat.errors import Conflict, InvalidInput, NotAuthenticated, ServiceUnavailable

logger = logging.getLogger(__name__)

_USERNAME_RE = re.compile(USERNAME_PATTERN)


def _validate_username(username: str) -> None:
    if not (USERNAME_MIN <= len(username) <= USERNAME_MAX) or not _USERNAME_RE.fullmatch(username):
        raise InvalidInput(
            f"username must be {USERNAME_MIN}-{USERNAME_MAX} characters of letters, digits, _ . -",
            code="invalid_username",
            details={"username": ["invalid"]},
        )


def _validate_password(password: str, user: User) -> None:
    if len(password) > settings.PASSWORD_MAX_LENGTH:
        raise InvalidInput(
            f"password must be at most {settings.PASSWORD_MAX_LENGTH} characters",
            code="invalid_password",
            details={"password": ["too long"]},
        )
    try:
        validate_password(password, user)
    except ValidationError as error:
        raise InvalidInput(
            " ".join(error.messages), code="invalid_password", details={"password": list(error.messages)}
        ) from None


# Names that read as the service or its staff speaking; refused like a taken name.
RESERVED_USERNAMES = frozenset(
    {
        "abuse", "admin", "administrator", "anonymous", "api", "help", "hostmaster", "mod", "moderator",
        "neonchat", "nil", "no-reply", "noreply", "none", "null", "official", "postmaster", "root", "security",
        "staff", "superuser", "support", "sysadmin", "system", "undefined", "webmaster", "www",
    }
)  # fmt: skip
_DECORATION = "._-"


def _lookalikes(name: str) -> set[str]:
    """The names one decoration away from ``name`` (``bob`` ~ ``bob.``, ``_bob``, ``bob-``), lower-cased."""
    core = name.lower().strip(_DECORATION) or name.lower()
    return ({core} | {core + c for c in _DECORATION} | {c + core for c in _DECORATION}) - {name.lower()}


def _check_available(username: str) -> None:
    """409 for a reserved name or a look-alike of an existing one (the exact name is the unique index's job)."""
    if username.lower().strip(_DECORATION) in RESERVED_USERNAMES:
        raise Conflict("This username is reserved.", code="username_reserved")
    if User.objects.filter(username__lower__in=sorted(_lookalikes(username))).exists():
        raise Conflict("This username is taken (too close to an existing one).", code="username_taken")


def user_register(*, username: str, password: str) -> User:
    """Create an account; 409 if the name is taken in any letter case, reserved, or a look-alike."""
    _validate_username(username)
    _check_available(username)
    user = User(username=username)
    _validate_password(password, user)
    user.set_password(password)
    try:
        with transaction.atomic():
            user.save(force_insert=True)
    except IntegrityError:
        # The case-insensitive unique index decides races: exactly one wins.
        raise Conflict("This username is taken.", code="username_taken") from None
    return user


def token_issue(*, user: User) -> tuple[str, int]:
    """A signed HS256 access token with ``user_id``, ``username``, ``exp``, ``iat``, ``jti``."""
    token = AccessToken.for_user(user)
    token["username"] = user.username
    lifetime = int(settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"].total_seconds())
    return str(token), lifetime


def user_login(*, username: str, password: str) -> tuple[User, str, int]:
    """Check credentials (same error, similar timing, whether or not the user exists)."""
    if len(password) > settings.PASSWORD_MAX_LENGTH:
        password = password[: settings.PASSWORD_MAX_LENGTH + 1]
    user = authenticate(username=username, password=password)
    if not isinstance(user, User):
        raise NotAuthenticated("Invalid username or password.", code="invalid_credentials")
    token, lifetime = token_issue(user=user)
    return user, token, lifetime


def token_revoke(*, claims: dict[str, Any]) -> None:
    """Revoke one access token until it expires, and close its WebSockets."""
    jti = str(claims.get("jti") or "")
    exp = int(claims.get("exp") or 0)
    ttl = exp - int(time.time())
    if jti and ttl > 0:
        try:
            _store_revocation(jti=jti, ttl=ttl)
        except _REVOKE_ERRORS:
            raise ServiceUnavailable("Could not revoke the token; try again.") from None
    sessions_revoked.send(sender=User, user_id=str(claims.get("user_id")), jti=jti or None)


_REVOKE_ERRORS: tuple[type[Exception], ...] = (*kv.STORE_ERRORS, DatabaseError)


def _store_revocation(*, jti: str, ttl: int) -> None:
    """An expiring key in the store; in embedded mode (an in-process store) also
    the database, so it outlives restarts."""
    kv.sync_client().set(revoked_key(jti), "1", ex=ttl)
    if not kv.is_embedded():
        return
    now = datetime.now(tz=UTC)
    with transaction.atomic():
        RevokedToken.objects.filter(expires_at__lte=now).delete()  # expired ones are of no use
        RevokedToken.objects.update_or_create(jti=jti, defaults={"expires_at": now + timedelta(seconds=ttl)})


@transaction.atomic
def user_set_banned(*, user: User, banned: bool) -> User:
    """Ban (or lift the ban on) a user; a ban ends all their sessions at once.

    The ``banned:{user_id}`` key the REST token check reads is written before
    the status commits: if the store is unreachable the change is refused
    (503) and rolled back, so the database and the check never disagree.
    """
    user.status = User.Status.BANNED if banned else User.Status.ACTIVE
    user.save(update_fields=["status", "updated_at"])
    user_id = str(user.pk)
    try:
        if banned:
            kv.sync_client().set(banned_key(user_id), "1")
        else:
            kv.sync_client().delete(banned_key(user_id))
    except kv.STORE_ERRORS:
        raise ServiceUnavailable("Could not record the ban; try again.") from None
    if banned:
        transaction.on_commit(lambda: sessions_revoked.send(sender=User, user_id=user_id, jti=None))
    return user


@transaction.atomic
def user_delete(*, user: User) -> None:
    """Delete an account; its tokens stop working and its open WebSockets close
    (4401) like after a ban (:func:`user_deleted`, run for every deleted user)."""
    user.delete()


def bans_sync() -> int:
    """Write ``banned:{user_id}`` for every banned user (after a store loss, or
    for bans recorded before the key existed); returns how many."""
    banned = [str(pk) for pk in User.objects.filter(status=User.Status.BANNED).values_list("pk", flat=True)]
    if banned:
        pipe = kv.sync_client().pipeline(transaction=False)
        for user_id in banned:
            pipe.set(banned_key(user_id), "1")
        pipe.execute()
    return len(banned)


def user_deleted(*, user_id: str) -> None:
    """A deleted account's tokens stop working at once (they expire by themselves after that)."""
    lifetime = int(settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"].total_seconds())
    try:
        pipe = kv.sync_client().pipeline(transaction=False)
        pipe.set(banned_key(user_id), "1", ex=lifetime)
        pipe.delete(profile_key(user_id))
        pipe.execute()
    except kv.STORE_ERRORS:
        raise ServiceUnavailable("Could not revoke the account's tokens; try again.") from None
    sessions_revoked.send(sender=User, user_id=user_id, jti=None)


def profile_refresh(*, user_id: uuid.UUID) -> None:
    """Write a user's stored profile again from the database, after a change to it has committed.

    Read after the commit and written unconditionally, it replaces whatever a
    request that read the database before the commit may have stored (those
    write only where nothing is, :func:`accounts.selectors.caller_profile`).
    If the store is unreachable the old copy may be served until it expires.
    """
    profile = profile_read(user_id=user_id)
    try:
        if profile is None:
            kv.sync_client().delete(profile_key(user_id))
        else:
            kv.sync_client().set(profile_key(user_id), profile_encoded(profile), ex=PROFILE_SECONDS)
    except kv.STORE_ERRORS:
        logger.warning("could not refresh the stored profile of %s; it may be stale for %ss", user_id, PROFILE_SECONDS)


def user_touch_last_seen(*, user_id: str) -> None:
    User.objects.filter(pk=user_id).update(last_seen_at=datetime.now(tz=UTC))
