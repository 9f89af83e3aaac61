"""Example: send reads to a PostgreSQL streaming replica, writes to the primary.

Not wired into the settings (see docs/scaling.md, "Read replica"). To use it,
add a ``replica`` database and the router::

    DATABASES["replica"] = {**DATABASES["default"], **environ.Env.db_url_config(REPLICA_URL),
                            "OPTIONS": DATABASES["default"]["OPTIONS"], "TEST": {"MIRROR": "default"}}
    DATABASE_ROUTERS = ["deploy.cluster.routers.PrimaryReplicaRouter"]
    MIDDLEWARE.insert(0, "deploy.cluster.routers.pin_unsafe_requests_to_primary")

What goes to the replica: reads outside a transaction, i.e. chat lists, history
pages, user search, unread counts. What must stay on the primary, and does here:

* everything inside ``transaction.atomic()`` (sending assigns ``seq`` under a
  row lock and looks the idempotency key up: a replica would answer from the
  past and break both), because Django routes a read inside an atomic block of
  ``default`` through ``db_for_read`` too;
* every query of a request that writes (POST/PATCH/DELETE), so that a request
  reads its own writes;
* code in ``with use_primary():``, for reads that must see the latest commit
  (e.g. the WebSocket consumer checking membership right after a chat was
  created on another instance).

A client that posts a message and at once reads history may still be served
by a replica that lags; keep replica lag alerts well under a second, or pin a
user to the primary for a few seconds after their writes (a Redis key with a
TTL set on write, checked in ``db_for_read``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.db import connections

PRIMARY = "default"
REPLICA = "replica"

_pinned: ContextVar[bool] = ContextVar("db_pinned_to_primary", default=False)


@contextlib.contextmanager
def use_primary() -> Iterator[None]:
    """Route every read in this block (and this task/thread context) to the primary."""
    token = _pinned.set(True)
    try:
        yield
    finally:
        _pinned.reset(token)


class PrimaryReplicaRouter:
    """Reads to ``replica`` unless pinned or inside a transaction; writes, migrations to ``default``."""

    def db_for_read(self, model: type[Any], **hints: Any) -> str:
        if _pinned.get() or connections[PRIMARY].in_atomic_block or REPLICA not in connections.settings:
            return PRIMARY
        return REPLICA

    def db_for_write(self, model: type[Any], **hints: Any) -> str:
        return PRIMARY

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool:
        return True  # one logical database: the replica is a copy of the primary

    def allow_migrate(self, db: str, app_label: str, model_name: str | None = None, **hints: Any) -> bool:
        return db == PRIMARY


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def pin_unsafe_requests_to_primary(get_response: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Middleware: a request that writes reads from the primary for its whole duration."""
    if iscoroutinefunction(get_response):

        async def async_middleware(request: Any) -> Any:
            if request.method in SAFE_METHODS:
                return await get_response(request)
            with use_primary():
                return await get_response(request)

        markcoroutinefunction(async_middleware)
        return async_middleware

    def middleware(request: Any) -> Any:
        if request.method in SAFE_METHODS:
            return get_response(request)
        with use_primary():
            return get_response(request)

    return middleware


pin_unsafe_requests_to_primary.sync_capable = True  # type: ignore[attr-defined]
pin_unsafe_requests_to_primary.async_capable = True  # type: ignore[attr-defined]

__all__ = ["PrimaryReplicaRouter", "pin_unsafe_requests_to_primary", "use_primary"]
