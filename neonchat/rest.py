"""The REST translator of errors: DRF's exception handler and Django's error views."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils.deprecation import MiddlewareMixin
from rest_framework import exceptions as drf
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_default_handler

from neonchat.errors import ApplicationError, RateLimited, error_body

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


class BodySizeLimitMiddleware(MiddlewareMixin):
    """413 in the error shape for API bodies over ``DATA_UPLOAD_MAX_MEMORY_SIZE``
    (DRF reads the stream itself, so Django's own check would not apply).
    ``MiddlewareMixin`` makes it async-capable: no thread hop per request."""

    def process_request(self, request: HttpRequest) -> HttpResponse | None:
        if not request.path.startswith("/api/"):
            return None
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
            return JsonResponse(error_body("payload_too_large", "The request body is too large."), status=413)
        return None


def json_404(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse(error_body("not_found", "Not found."), status=404)


def json_500(request: HttpRequest) -> JsonResponse:
    return JsonResponse(error_body("internal_error", "Internal server error."), status=500)


def json_400(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse(error_body("bad_request", "Bad request."), status=400)


def json_403(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse(error_body("permission_denied", "Forbidden."), status=403)
