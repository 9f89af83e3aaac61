"""Presence in Redis: multi-device transitions, expiry of a dead gateway's
connections (the reaper), the batched read path."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from django.test import override_settings

from neonchat import kv
from presence import store
from presence.heartbeat import BATCH as HEARTBEAT_BATCH
from presence.heartbeat import HeartbeatRegistry
from presence.selectors import online_map


async def test_two_devices_online_once_offline_after_the_last() -> None:
    user = str(uuid.uuid4())
    assert await store.connection_opened(user, "c1", "phone") is True
    assert await store.connection_opened(user, "c2", "laptop") is False
    assert await store.connection_closed(user, "c1") is False
    assert (await store.aread_statuses([user]))[user].status == "online"
    assert await store.set_status(user, "away") is True
    assert await store.set_status(user, "away") is False
    assert (await store.aread_statuses([user]))[user].status == "away"
    assert await store.connection_closed(user, "c2") is True
    assert (await store.aread_statuses([user]))[user].status == "offline"


async def test_concurrent_connects_and_disconnects_announce_exactly_once() -> None:
    user = str(uuid.uuid4())
    opened = await asyncio.gather(*(store.connection_opened(user, f"c{i}") for i in range(20)))
    assert sum(opened) == 1
    closed = await asyncio.gather(*(store.connection_closed(user, f"c{i}") for i in range(20)))
    assert sum(closed) == 1


@override_settings(WS_MAX_CONNECTIONS_PER_USER=5)
async def test_the_per_user_cap_holds_under_concurrent_connects() -> None:
    user = str(uuid.uuid4())
    results = await asyncio.gather(*(store.connection_opened(user, f"c{i}") for i in range(20)), return_exceptions=True)
    refused = [r for r in results if isinstance(r, store.TooManyConnections)]
    assert len(refused) == 15
    assert refused[0].code == "too_many_connections" and refused[0].details == {"limit": 5}
    assert (await store.live_connection_counts([user]))[user] == 5
    opened = [f"c{i}" for i, r in enumerate(results) if not isinstance(r, Exception)]
    assert await store.connection_opened(user, opened[0]) is False  # a known connection re-registers
    await store.connection_closed(user, opened[0])
    assert await store.connection_opened(user, "after-a-close") is False


@override_settings(WS_MAX_CONNECTIONS_PER_USER=2, PRESENCE_TTL=1)
async def test_dead_connections_do_not_count_against_the_cap() -> None:
    user = str(uuid.uuid4())
    await store.connection_opened(user, "dead-1")
    await store.connection_opened(user, "dead-2")
    with pytest.raises(store.TooManyConnections):
        await store.connection_opened(user, "refused")
    await asyncio.sleep(2.1)  # a crashed gateway: no heartbeat, the connection keys expire
    assert await store.connection_opened(user, "new-1") is True
    assert await store.connection_opened(user, "new-2") is False


@override_settings(PRESENCE_TTL=1)
async def test_reaper_announces_users_of_a_dead_gateway_once() -> None:
    user = str(uuid.uuid4())
    await store.connection_opened(user, "dead-conn")
    await asyncio.sleep(2.1)  # no heartbeat: the connection key expired
    gone: list[str] = []
    registry = HeartbeatRegistry()

    async def offline(uid: str) -> None:
        gone.append(uid)

    registry.on_offline = offline
    await registry.beat_once()
    await registry.beat_once()
    assert gone.count(user) == 1


@override_settings(PRESENCE_TTL=1)
async def test_heartbeat_keeps_a_live_connection_online() -> None:
    user = str(uuid.uuid4())
    registry = HeartbeatRegistry()
    came_back: list[str] = []

    async def online(uid: str) -> None:
        came_back.append(uid)

    registry.on_online = online
    await store.connection_opened(user, "live")
    registry.connections["live"] = user
    for _ in range(3):
        await asyncio.sleep(0.6)
        await registry.beat_once()
    assert (await store.aread_statuses([user]))[user].status == "online"
    assert came_back == []
    await registry.stop()


async def test_one_beat_refreshes_every_connection_and_reports_those_whose_presence_expired() -> None:
    users = [str(uuid.uuid4()) for _ in range(HEARTBEAT_BATCH + 20)]  # more than one round trip
    for i, user in enumerate(users):
        await store.connection_opened(user, f"conn-{i}")
    expired = users[:2] + users[-1:]  # in the first batch and in the last
    await kv.async_client().delete(*(f"online:{user}" for user in expired))
    registry = HeartbeatRegistry()
    registry.connections = {f"conn-{i}": user for i, user in enumerate(users)}
    came_back: list[str] = []

    async def online(uid: str) -> None:
        came_back.append(uid)

    registry.on_online = online
    await registry.beat_once()
    assert came_back == expired
    assert {s.status for s in (await store.aread_statuses(users)).values()} == {"online"}
    await registry.beat_once()
    assert came_back == expired  # announced once


def test_online_map_reads_the_store_in_one_call() -> None:
    user, other = str(uuid.uuid4()), str(uuid.uuid4())
    asyncio.run(store.connection_opened(user, "c"))
    assert online_map([user, other]) == {user: True, other: False}
    assert online_map([]) == {}


async def test_connected_elsewhere_names_users_with_a_connection_outside_the_covered_ones() -> None:
    here_only, also_elsewhere, elsewhere_only, offline = (str(uuid.uuid4()) for _ in range(4))
    opened = [(here_only, "h1"), (also_elsewhere, "h2"), (also_elsewhere, "e1"), (elsewhere_only, "e2")]
    for user, conn in opened:
        await store.connection_opened(user, conn)
    try:
        users = [here_only, also_elsewhere, elsewhere_only, offline]
        assert await store.connected_elsewhere(users, {"h1", "h2"}) == {also_elsewhere, elsewhere_only}
        assert await store.connected_elsewhere(users, {"h1", "h2", "e1", "e2"}) == set()
        assert await store.connected_elsewhere([], {"h1"}) == set()
    finally:
        for user, conn in opened:
            await store.connection_closed(user, conn)
