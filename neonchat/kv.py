"""The key-value store behind presence, rate limits and token revocation.

Stack mode talks to Redis at ``REDIS_URL``. Embedded mode runs without any
service: an in-process Redis (fakeredis, Lua included) shared by the sync and
async clients of the one process, so the same commands and scripts run in both
modes.
"""

from __future__ import annotations

import asyncio
import functools
import weakref
from collections.abc import Sequence
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


# register_script takes a client for its encoder only (the script's SHA); each
# call runs on the running loop's client. This one never connects.
_script_registry = aredis.Redis(decode_responses=True)


class StoreScript:
    """redis-py's script (``EVALSHA``, loaded on first use or after a Redis restart), run on this loop's client."""

    def __init__(self, source: str) -> None:
        self._script = _script_registry.register_script(source)

    async def __call__(self, keys: list[str], args: list[Any]) -> Any:
        return await self._script(keys=keys, args=args, client=async_client())

    async def many(self, calls: Sequence[tuple[list[str], list[Any]]]) -> list[Any]:
        """Each ``(keys, args)`` run in turn, all in one round trip (a pipeline, not a transaction).

        ``EVALSHA`` straight away: redis-py's pipeline would first ask ``SCRIPT EXISTS``, a
        round trip of its own on every call. A call Redis answers ``NOSCRIPT`` (it lost its
        scripts: a restart) was not run; the script is loaded and those calls go again.
        """
        if not calls:
            return []
        client = async_client()
        results = await self._pipeline(client, calls)
        lost = [index for index, result in enumerate(results) if isinstance(result, NoScriptError)]
        if lost:
            await client.script_load(self._script.script)
            for index, result in zip(lost, await self._pipeline(client, [calls[i] for i in lost]), strict=True):
                results[index] = result
        for result in results:
            if isinstance(result, Exception):
                raise result
        return results

    async def _pipeline(self, client: aredis.Redis, calls: Sequence[tuple[list[str], list[Any]]]) -> list[Any]:
        pipe = client.pipeline(transaction=False)
        for keys, args in calls:
            pipe.evalsha(self._script.sha, len(keys), *keys, *args)
        return list(await pipe.execute(raise_on_error=False))


def register_script(source: str) -> StoreScript:
    return StoreScript(source)
