"""DRF authentication: ``Authorization: Bearer <JWT>`` through the shared token check."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.request import Request
from rest_framework_simplejwt.authentication import JWTAuthentication

from accounts.models import User
from accounts.selectors import user_from_token


class AuthenticatedRequest(Request):
    """For type checkers: a request that passed ``IsAuthenticated``."""

    user: User  # type: ignore[assignment]
    auth: dict[str, Any]


class BearerTokenAuthentication(JWTAuthentication):
    """simplejwt's header parsing, our checks (revocation, bans) via the selector."""

    def authenticate(self, request: Request) -> tuple[User, dict[str, Any]] | None:  # type: ignore[override]
        header = self.get_header(request)
        if header is None:
            return None
        raw = self.get_raw_token(header)
        if raw is None:
            return None
        return user_from_token(raw.decode("latin-1"))


class BearerTokenScheme(OpenApiAuthenticationExtension):
    """Documents the Bearer JWT scheme, so Swagger UI's "Authorize" works."""

    target_class = "accounts.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
