"""ORM work from async code (consumers, gRPC servicers).

Channels' ``database_sync_to_async`` runs every call of the process on one
thread (asgiref's thread-sensitive mode). That thread is the ceiling of the
WebSocket send path: each send is a short transaction that mostly waits on
PostgreSQL. With ``DB_THREADS`` > 1 (the default on PostgreSQL) calls run on a
small pool instead, each thread with its own pooled connection, so commits of
concurrent sends overlap (PostgreSQL group-commits them). SQLite allows one
writer at a time, so embedded mode keeps the single thread.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from channels.db import DatabaseSyncToAsync
from django.conf import settings

P = ParamSpec("P")
R = TypeVar("R")


@functools.cache
def _executor() -> ThreadPoolExecutor | None:
    threads = int(settings.DB_THREADS)
    if threads <= 1 or settings.EMBEDDED_DATABASE:
        return None
    return ThreadPoolExecutor(max_workers=threads, thread_name_prefix="db")


def db_call(func: Callable[P, R]) -> Callable[P, Awaitable[R]]:
    """``database_sync_to_async(func)``, on the DB thread pool when there is one."""
    executor = _executor()
    if executor is None:
        return DatabaseSyncToAsync(func)  # type: ignore[no-any-return]
    return DatabaseSyncToAsync(func, thread_sensitive=False, executor=executor)  # type: ignore[no-any-return]
