"""Liveness and readiness: ``/health/live`` and ``/health/ready`` (contract shape)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Awaitable, Callable, Iterator

from asgiref.sync import sync_to_async
from django.db import connection
from django.http import HttpRequest, JsonResponse

from neonchat import kv

logger = logging.getLogger(__name__)

_draining = threading.Event()
_in_flight: set[asyncio.Future[None]] = set()  # client frames being handled


@contextlib.contextmanager
def in_flight() -> Iterator[None]:
    """Mark a client frame as being handled: shutdown waits for it before closing sockets."""
    done = asyncio.get_running_loop().create_future()
    _in_flight.add(done)
    try:
        yield
    finally:
        _in_flight.discard(done)
        done.set_result(None)


def start_draining() -> None:
    """Called on SIGTERM/SIGINT: readiness answers 503 from now on."""
    _draining.set()


def is_draining() -> bool:
    return _draining.is_set()


async def settle(grace: float) -> None:
    """Wait (up to ``grace`` s) until the client frames being handled now are answered."""
    if _in_flight:
        await asyncio.wait(set(_in_flight), timeout=grace)


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except Exception:  # any driver error means unhealthy
        logger.warning("readiness: database check failed", exc_info=True)
        return False
    finally:
        connection.close_if_unusable_or_obsolete()


async def _redis_ok() -> bool:
    try:
        return bool(await asyncio.wait_for(kv.async_client().ping(), timeout=1.0))
    except kv.STORE_ERRORS:  # a timeout too: TimeoutError is an OSError
        logger.warning("readiness: redis check failed")
        return False


Probe = Callable[[], Awaitable[bool]]

# Services a higher app registers from its AppConfig.ready() (the notifier:
# "notification_service"): one that is down makes the process degraded, not
# unready. Registered rather than imported, so that the ground imports no app.
_degrading: dict[str, Probe] = {}


def register_degrading_check(name: str, probe: Probe) -> None:
    _degrading[name] = probe


async def live(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "alive"})


async def ready(request: HttpRequest) -> JsonResponse:
    names = list(_degrading)
    database, redis_up, *services_up = await asyncio.gather(
        sync_to_async(_database_ok, thread_sensitive=False)(), _redis_ok(), *(_degrading[name]() for name in names)
    )
    results = {"database": database, "redis": redis_up, **dict(zip(names, services_up, strict=True))}
    checks = {name: "healthy" if up else "unhealthy" for name, up in results.items()}
    if is_draining() or not database or not redis_up:
        state, code = "unready", 503
    elif not all(services_up):
        state, code = "degraded", 200
    else:
        state, code = "ready", 200
    return JsonResponse({"status": state, "checks": checks}, status=code)
