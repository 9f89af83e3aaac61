"""The REST translator of errors: DRF's exception handler and Django's error views."""

from __future__ import annotations

import io
import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from rest_framework import exceptions as drf
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_default_handler

from neonchat.errors import ApplicationError, RateLimited, error_body
from neonchat.middleware import SyncAndAsyncMiddleware

logger = logging.getLogger(__name__)

_DRF_CODES: dict[type[drf.APIException], str] = {
    drf.ParseError: "malformed_request",
    drf.AuthenticationFailed: "not_authenticated",
    drf.NotAuthenticated: "not_authenticated",
    drf.PermissionDenied: "permission_denied",
    drf.NotFound: "not_found",
    drf.MethodNotAllowed: "method_not_allowed",
    drf.NotAcceptable: "not_acceptable",
    drf.UnsupportedMediaType: "unsupported_media_type",
    drf.Throttled: "rate_limited",
    drf.ValidationError: "validation_error",
}


def _drf_code(exc: drf.APIException) -> str:
    for cls in type(exc).__mro__:
        if cls in _DRF_CODES:
            return _DRF_CODES[cls]  # type: ignore[index]
    return str(exc.default_code)


def _validation_details(detail: Any) -> dict[str, Any]:
    if isinstance(detail, dict):
        return {
            str(k): [str(i) for i in v] if isinstance(v, list) else _validation_details(v) for k, v in detail.items()
        }
    if isinstance(detail, list):
        return {"non_field_errors": [str(i) for i in detail]}
    return {"non_field_errors": [str(detail)]}


def _first_message(details: dict[str, Any]) -> str:
    for field, problems in details.items():
        if isinstance(problems, list) and problems:
            return problems[0] if field == "non_field_errors" else f"{field}: {problems[0]}"
        if isinstance(problems, dict):
            return f"{field}: {_first_message(problems)}"
    return "The request is not valid."


def drf_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's ``EXCEPTION_HANDLER``: every API error in the contract's shape."""
    if isinstance(exc, ApplicationError):
        headers = {"Retry-After": str(max(1, round(exc.retry_after)))} if isinstance(exc, RateLimited) else None
        return Response(error_body(exc.code, exc.message, exc.details), status=exc.status, headers=headers)
    if isinstance(exc, (OperationalError, InterfaceError)):
        # e.g. a pooled connection that died with a PostgreSQL restart: retryable.
        logger.warning("database unavailable: %s", exc)
        return Response(error_body("service_unavailable", "The database is unavailable; try again."), status=503)
    if isinstance(exc, RequestDataTooBig):
        return Response(error_body("payload_too_large", "The request body is too large."), status=413)
    response = drf_default_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, drf.ValidationError):
        details = _validation_details(exc.detail)
        response.data = error_body("validation_error", _first_message(details), details)
        return response
    if isinstance(exc, Http404):
        code = "not_found"
    elif isinstance(exc, DjangoPermissionDenied):
        code = "permission_denied"
    else:
        code = _drf_code(exc)  # type: ignore[arg-type]
    detail = response.data.get("detail", "") if isinstance(response.data, dict) else ""
    response.data = error_body(code, str(detail) or "Error.")
    return response


def _too_large() -> JsonResponse:
    return JsonResponse(error_body("payload_too_large", "The request body is too large."), status=413)


def _limit_body(request: HttpRequest) -> JsonResponse | None:
    """413 for API bodies over ``DATA_UPLOAD_MAX_MEMORY_SIZE``; a chunked body
    (no Content-Length, which DRF would read as empty) is measured and exposed
    with its length."""
    if not request.path.startswith("/api/"):
        return None
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > limit:
        return _too_large()
    if not length and "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower():
        # Under ASGI the body is already buffered by Django: this read is in memory.
        body = request.read(limit + 1)
        if len(body) > limit:
            return _too_large()
        request._stream = io.BytesIO(body)  # type: ignore[attr-defined]
        request._read_started = False  # type: ignore[attr-defined]
        request.META["CONTENT_LENGTH"] = str(len(body))
    return None


class BodySizeLimitMiddleware(SyncAndAsyncMiddleware):
    """See :func:`_limit_body`. Sync and async, so it never adds a thread hop."""

    def before(self, request: HttpRequest) -> HttpResponse | None:
        return _limit_body(request)


def json_404(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse(error_body("not_found", "Not found."), status=404)


def json_500(request: HttpRequest) -> JsonResponse:
    return JsonResponse(error_body("internal_error", "Internal server error."), status=500)


def json_400(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse(error_body("bad_request", "Bad request."), status=400)


def json_403(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse(error_body("permission_denied", "Forbidden."), status=403)
