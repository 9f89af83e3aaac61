"""Liveness and readiness: ``/health/live`` and ``/health/ready`` (contract shape)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Iterator

import redis
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse

from neonchat import kv
from notifier.client import notifier_client

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
    except (redis.RedisError, OSError, TimeoutError):
        logger.warning("readiness: redis check failed")
        return False


async def _notifier_ok() -> bool:
    if not settings.NOTIFIER_ADDR:
        return True  # embedded: the notifier runs in-process
    return await notifier_client().is_serving()


async def live(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "alive"})


async def ready(request: HttpRequest) -> JsonResponse:
    database, redis_up, notifier_up = await asyncio.gather(
        sync_to_async(_database_ok, thread_sensitive=False)(), _redis_ok(), _notifier_ok()
    )
    checks = {
        "database": "healthy" if database else "unhealthy",
        "redis": "healthy" if redis_up else "unhealthy",
        "notification_service": "healthy" if notifier_up else "unhealthy",
    }
    if is_draining() or not database or not redis_up:
        state, code = "unready", 503
    elif not notifier_up:
        state, code = "degraded", 200
    else:
        state, code = "ready", 200
    return JsonResponse({"status": state, "checks": checks}, status=code)
