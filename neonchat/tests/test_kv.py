"""The store client: which failures count as the store being down."""

from __future__ import annotations

import uuid

import pytest
import redis

from neonchat import kv

pytestmark = pytest.mark.skipif(kv.is_embedded(), reason="a connection to a real Redis")


def _broken_read(*args: object, **kwargs: object) -> None:
    raise AttributeError("'NoneType' object has no attribute 'readline'")


def test_a_parser_reset_under_a_read_is_a_connection_error(monkeypatch: pytest.MonkeyPatch) -> None:
    pool = kv.sync_client().connection_pool
    connection = pool.get_connection()
    try:
        connection.send_command("PING")
        with monkeypatch.context() as patch, pytest.raises(redis.ConnectionError) as caught:
            patch.setattr(connection._parser, "read_response", _broken_read)
            connection.read_response()
    finally:
        pool.release(connection)
    assert isinstance(caught.value, kv.STORE_ERRORS)
    assert isinstance(caught.value.__cause__, AttributeError)


def test_an_attribute_error_elsewhere_is_not_a_store_error() -> None:
    assert not isinstance(AttributeError("a bug in our code"), kv.STORE_ERRORS)


async def test_a_script_unknown_to_redis_is_loaded_on_first_use() -> None:
    """As after a Redis restart (SCRIPT FLUSH is server-wide: a fresh script stands in for it)."""
    echo = kv.register_script(f"-- {uuid.uuid4()}\nreturn {{KEYS[1], ARGV[1]}}")
    assert await echo(["k"], ["v"]) == ["k", "v"]
    assert await echo(["k2"], [2]) == ["k2", "2"]


async def test_many_calls_of_a_script_unknown_to_redis_go_in_one_pipeline_in_order() -> None:
    echo = kv.register_script(f"-- {uuid.uuid4()}\nreturn {{KEYS[1], ARGV[1]}}")
    calls = [([f"k{i}"], [i]) for i in range(50)]
    assert await echo.many(calls) == [[f"k{i}", str(i)] for i in range(50)]
    assert await echo.many([]) == []


def _script_exists_calls() -> int:
    stats = kv.sync_client().info("commandstats")
    return int(stats.get("cmdstat_script|exists", {}).get("calls", 0))


async def test_many_calls_of_a_loaded_script_are_one_round_trip() -> None:
    echo = kv.register_script(f"-- {uuid.uuid4()}\nreturn {{KEYS[1], ARGV[1]}}")
    await echo.many([(["warm"], [0])])  # loaded
    asked = _script_exists_calls()
    assert await echo.many([(["a"], [1]), (["b"], [2])]) == [["a", "1"], ["b", "2"]]
    assert _script_exists_calls() == asked  # no SCRIPT EXISTS before the pipeline


async def test_an_error_of_one_call_is_raised() -> None:
    failing = kv.register_script(
        f"-- {uuid.uuid4()}\nif ARGV[1] == 'bad' then return redis.error_reply('nope') end return 1"
    )
    with pytest.raises(redis.ResponseError, match="nope"):
        await failing.many([(["k"], ["good"]), (["k"], ["bad"])])
