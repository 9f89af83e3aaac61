"""DRF authentication: Bearer JWT for every client; a session for the browsable API only."""

from __future__ import annotations

import uuid
from typing import Any, ClassVar, Protocol

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import SessionAuthentication
from rest_framework.renderers import BrowsableAPIRenderer
from rest_framework.request import Request
from rest_framework_simplejwt.authentication import JWTAuthentication

from accounts.models import User
from accounts.selectors import Principal, bearer_principal
from neonchat.ratelimit import record_counted_hit


class Caller(Protocol):
    """Who is calling: a :class:`Principal` (Bearer) or a :class:`User` (browsable API session)."""

    @property
    def pk(self) -> uuid.UUID: ...

    @property
    def username(self) -> str: ...


class AuthenticatedRequest(Request):
    """For type checkers: a request that passed ``IsAuthenticated``."""

    user: Caller  # type: ignore[assignment]
    auth: dict[str, Any]


class BearerTokenAuthentication(JWTAuthentication):
    """simplejwt's header parsing; the caller from the token's claims, no database read.

    Revocation, bans and the per-user rate-limit hit are one store round trip
    (:func:`accounts.selectors.bearer_principal`); the throttle reuses the hit.
    """

    with_profile: ClassVar[bool] = False

    def authenticate(self, request: Request) -> tuple[Principal, dict[str, Any]] | None:  # type: ignore[override]
        header = self.get_header(request)
        if header is None:
            return None
        raw = self.get_raw_token(header)
        if raw is None:
            return None
        principal, claims, hit = bearer_principal(raw.decode("latin-1"), with_profile=self.with_profile)
        record_counted_hit(request, hit)
        return principal, claims


class BearerProfileAuthentication(BearerTokenAuthentication):
    """For ``/users/me``: the same check, and the caller's stored profile read in its round trip."""

    with_profile = True


class BrowsableAPISessionAuthentication(SessionAuthentication):
    """A Django session (``/api-auth/login/``), for pages of the browsable API only.

    JSON clients stay Bearer-only: a session cookie on a request that asks for
    JSON authenticates nothing. DRF enforces CSRF on unsafe methods of a
    session-authenticated request.
    """

    def authenticate(self, request: Request) -> tuple[User, None] | None:  # type: ignore[override]
        if not isinstance(getattr(request, "accepted_renderer", None), BrowsableAPIRenderer):
            return None
        # The session middleware runs for requests with a session cookie only (neonchat.surfaces).
        if not hasattr(request._request, "user"):
            return None
        return super().authenticate(request)  # type: ignore[no-any-return] # None for inactive (banned) users


class BearerTokenScheme(OpenApiAuthenticationExtension):
    """Documents the Bearer JWT scheme, so Swagger UI's "Authorize" works."""

    target_class = "accounts.authentication.BearerTokenAuthentication"
    match_subclasses = True
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
