"""ORM work from async code (consumers, gRPC servicers); fixed SQL statements bound on the server.

Channels' ``database_sync_to_async`` runs every call of the process on one
thread (asgiref's thread-sensitive mode). That thread is the ceiling of the
WebSocket send path: each send is a short transaction that mostly waits on
PostgreSQL. With ``DB_THREADS`` > 1 (the default on PostgreSQL) calls run on a
small pool instead, each thread with its own pooled connection, so commits of
concurrent sends overlap (PostgreSQL group-commits them). SQLite allows one
writer at a time, so embedded mode keeps the single thread.

Django's psycopg cursors bind parameters on the client, so PostgreSQL plans
every execution afresh; the chat list's statement took 1.8 ms to plan and
0.4 ms to run (docs/performance.md). :func:`fetch_rows` runs one of
NeonChat's fixed statements through a server-binding cursor on the same
connection, which psycopg prepares after ``DB_PREPARE_THRESHOLD`` executions
(the pooled connection keeps the plan); still through Django's cursor wrapper,
so errors are Django's and tests count the query. Its ``timestamptz`` values
are read by psycopg's own loader (C in psycopg's binary package): Django
registers a Python subclass on every connection, which was 8 % of an api
worker's time on the chat list, parsing what ``payloads.iso`` then formats again.
The hot statements go further with :func:`iso_text` and ``::text`` casts: a
value that is only rendered into JSON comes as the text it renders to.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ParamSpec, TypeVar

import psycopg
from channels.db import DatabaseSyncToAsync
from django.conf import settings
from django.db import connection
from psycopg.pq import Format

_TIMESTAMPTZ = psycopg.postgres.types["timestamptz"].oid
# psycopg's loader, not Django's Python subclass: an aware datetime in the session's time zone (UTC under Django).
_TIMESTAMPTZ_LOADER = psycopg.adapters.get_loader(_TIMESTAMPTZ, Format.TEXT)

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


def iso_text(column: str) -> str:
    """SQL giving a ``timestamptz`` expression as the API writes times (``payloads.iso``:
    ISO 8601 in UTC, ``Z``, microseconds only when not zero), NULL for NULL.

    PostgreSQL formats it, so a row carries the text instead of a datetime built
    only to be formatted again (with UUIDs as ``::text``, 40 % of the chat list's
    page-building CPU: docs/performance.md). No locale-dependent pattern is used.
    """
    return f"replace(to_char(({column}) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US'), '.000000', '') || 'Z'"


def fetch_rows(statement: str, params: Mapping[str, Any]) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Column names and rows of a fixed read statement, bound (and, once repeated, prepared) on the server."""
    connection.ensure_connection()
    connection.validate_thread_sharing()  # as Django's connection.cursor() does
    raw = psycopg.Cursor(connection.connection)  # Django's cursor_factory binds on the client: never prepared
    if _TIMESTAMPTZ_LOADER is not None:
        raw.adapters.register_loader(_TIMESTAMPTZ, _TIMESTAMPTZ_LOADER)
    wrap = connection.make_debug_cursor if connection.queries_logged else connection.make_cursor
    with wrap(raw) as cursor:  # type: ignore[arg-type]  # it wraps a DB-API cursor (the stubs: a CursorWrapper)
        cursor.execute(statement, params)
        return [column.name for column in cursor.description], cursor.fetchall()
