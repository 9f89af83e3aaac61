"""Request ids, JSON logs and the query-string redaction that keeps tokens out of logs."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponse
from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter as _JsonFormatter

request_id_var: ContextVar[str] = ContextVar("request_id", default="-")
access_logger = logging.getLogger("neonchat.access")

_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_SECRET_PARAM_RE = re.compile(r"((?:^|[?&])(?:token|access_token|password)=)[^&\s]*", re.IGNORECASE)


_BEARER_RE = re.compile(r"(\bbearer\s+)[^\s,;\"']+", re.IGNORECASE)
_JWT_RE = re.compile(r"\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*")


def redact(text: str) -> str:
    """Hide ``token=``/``password=`` query values, Bearer credentials and anything shaped like a JWT."""
    text = _SECRET_PARAM_RE.sub(r"\1[redacted]", text)
    text = _BEARER_RE.sub(r"\1[redacted]", text)
    return _JWT_RE.sub("[redacted-jwt]", text)


class RequestIdFilter(logging.Filter):
    """Adds the current request/connection id to every record and redacts secrets."""

    def filter(self, record: logging.LogRecord) -> bool:
        request = getattr(record, "request", None)
        record.request_id = getattr(request, "request_id", None) or request_id_var.get()
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if record.args:
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)  # type: ignore[union-attr]
        return True


class JsonFormatter(_JsonFormatter):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("fmt", "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s")
        kwargs.setdefault("rename_fields", {"asctime": "time", "levelname": "level", "name": "logger"})
        kwargs.setdefault("datefmt", "%Y-%m-%dT%H:%M:%S%z")
        kwargs.setdefault("reserved_attrs", [*RESERVED_ATTRS, "color_message", "request"])
        super().__init__(*args, **kwargs)


def new_request_id(candidate: str | None = None) -> str:
    if candidate and _REQUEST_ID_RE.fullmatch(candidate):
        return candidate
    return uuid.uuid4().hex


class RequestIdMiddleware:
    """Takes ``X-Request-ID`` (or makes one), exposes it to logs, returns it."""

    async_capable = True
    sync_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    @staticmethod
    def _request_id(request: HttpRequest) -> str:
        request_id = new_request_id(request.headers.get("X-Request-ID"))
        request.request_id = request_id  # type: ignore[attr-defined]
        return request_id

    def __call__(self, request: HttpRequest) -> HttpResponse | Awaitable[HttpResponse]:
        if iscoroutinefunction(self):
            return self.__acall__(request)  # type: ignore[attr-defined]
        started = time.perf_counter()
        token = request_id_var.set(self._request_id(request))
        try:
            response: HttpResponse = self.get_response(request)
            response["X-Request-ID"] = request_id_var.get()
            log_access(request, response.status_code, started)
            return response
        finally:
            request_id_var.reset(token)

    async def __acall__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        token = request_id_var.set(self._request_id(request))
        try:
            response: HttpResponse = await self.get_response(request)
            response["X-Request-ID"] = request_id_var.get()
            log_access(request, response.status_code, started)
            return response
        finally:
            request_id_var.reset(token)


def log_access(request: HttpRequest, status: int, started: float) -> None:
    """One INFO line per request: method, path (query redacted), status, duration, request id."""
    if not access_logger.isEnabledFor(logging.INFO):
        return
    duration_ms = round((time.perf_counter() - started) * 1000, 2)
    path = redact(request.get_full_path())
    access_logger.info(
        "%s %s %s %.2fms",
        request.method,
        path,
        status,
        duration_ms,
        extra={
            "method": request.method,
            "path": path,
            "status": status,
            "duration_ms": duration_ms,
            "request_id": request_id_var.get(),
        },
    )
