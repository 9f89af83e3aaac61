"""The key-value store behind presence, rate limits and token revocation.

Stack mode talks to Redis at ``REDIS_URL``. Embedded mode runs without any
service: an in-process Redis (fakeredis, Lua included) shared by the sync and
async clients of the one process, so the same commands and scripts run in both
modes.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import weakref
from typing import Any

import fakeredis
import redis
import redis.asyncio as aredis
from django.conf import settings
from redis.exceptions import NoScriptError

# What a call to the store raises when the store (or the connection to it) fails:
# the one list every caller catches (fail open, 503, or log and retry).
STORE_ERRORS: tuple[type[Exception], ...] = (redis.RedisError, OSError)


class _Connection(redis.Connection):
    """redis-py's connection, with one of its failures named for what it is.

    Under load, redis-py 8.1's sync client can fail a new connection's
    handshake with ``AttributeError: 'NoneType' object has no attribute
    'readline'`` (its parser was reset mid-connect) instead of a
    ``ConnectionError`` (docs/reliability.md). Only a read of this connection
    is translated, so an ``AttributeError`` anywhere else stays a bug.
    """

    def read_response(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().read_response(*args, **kwargs)
        except AttributeError as error:  # redis-py has already disconnected the connection
            raise redis.ConnectionError(f"connection broken while reading: {error}") from error


_async_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aredis.Redis] = weakref.WeakKeyDictionary()


def is_embedded() -> bool:
    return not settings.REDIS_URL


@functools.cache
def _fake_server() -> fakeredis.FakeServer:
    return fakeredis.FakeServer()


@functools.cache
def sync_client() -> redis.Redis:
    """A thread-safe, pooled client for sync code (views, services, signals)."""
    if is_embedded():
        return fakeredis.FakeRedis(server=_fake_server(), decode_responses=True)  # type: ignore[no-any-return]
    return redis.Redis.from_url(
        settings.REDIS_URL,
        connection_class=_Connection,
        decode_responses=True,
        socket_connect_timeout=2,
        socket_timeout=5,
        health_check_interval=30,
    )


def async_client() -> aredis.Redis:
    """A client bound to the running event loop (redis.asyncio pools are per loop)."""
    loop = asyncio.get_running_loop()
    client = _async_clients.get(loop)
    if client is None:
        if is_embedded():
            client = fakeredis.FakeAsyncRedis(server=_fake_server(), decode_responses=True)
        else:
            client = aredis.Redis.from_url(
                settings.REDIS_URL,
                decode_responses=True,
                socket_connect_timeout=2,
                socket_timeout=2,
                health_check_interval=30,
                max_connections=200,
            )
        _async_clients[loop] = client
    return client


class LuaScript:
    """A Lua script run by SHA (``EVALSHA``), loaded on first use or after a
    Redis restart, so each call sends only the hash, not the source."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()

    async def __call__(self, keys: list[str], args: list[object]) -> Any:
        client = async_client()
        try:
            return await client.evalsha(self.sha, len(keys), *keys, *args)  # type: ignore[misc,arg-type]
        except NoScriptError:
            return await client.eval(self.source, len(keys), *keys, *args)  # type: ignore[misc,arg-type]
