"""One error hierarchy for every transport, and its REST translator.

Services raise :class:`ApplicationError` subclasses with a stable ``code``.
Exactly three translators turn them into wire errors: the DRF exception
handler (``neonchat.rest``), the WebSocket ``error`` frame (``messaging.consumers``) and the
gRPC status (``notifier.servicer``).
"""

from __future__ import annotations

from typing import Any


class ApplicationError(Exception):
    code = "error"
    status = 400
    default_message = "The request could not be processed."

    def __init__(self, message: str | None = None, *, code: str | None = None, details: dict[str, Any] | None = None):
        self.message = message or self.default_message
        if code:
            self.code = code
        self.details = details or {}
        super().__init__(self.message)


class InvalidInput(ApplicationError):
    code = "invalid_input"
    status = 400
    default_message = "The request is not valid."


class NotAuthenticated(ApplicationError):
    code = "not_authenticated"
    status = 401
    default_message = "Authentication credentials were not provided or are not valid."


class PermissionDenied(ApplicationError):
    code = "permission_denied"
    status = 403
    default_message = "You are not allowed to do this."


class NotFound(ApplicationError):
    code = "not_found"
    status = 404
    default_message = "Not found."


class Conflict(ApplicationError):
    code = "conflict"
    status = 409
    default_message = "The request conflicts with the current state."


class RateLimited(ApplicationError):
    code = "rate_limited"
    status = 429
    default_message = "Too many requests."

    def __init__(self, message: str | None = None, *, retry_after: float = 1.0, **kwargs: Any):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ServiceUnavailable(ApplicationError):
    code = "service_unavailable"
    status = 503
    default_message = "A dependency is unavailable; try again shortly."


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}
