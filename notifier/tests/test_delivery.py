"""The notifier's fan-out on the real Redis and channel layer, by both of its paths:
one store script (the layer on the store's server, the default) and dedup marks
then a publish pipeline (any other layer)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from channels.layers import get_channel_layer
from django.test import override_settings

from messaging.signals import CommittedMessage
from neonchat import kv, realtime
from notifier import delivery
from presence.store import connections_key


@pytest.fixture(params=["one_trip", "two_trips"])
def path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "two_trips":
        monkeypatch.setattr(delivery, "store_channels", lambda: None)
    return str(request.param)


class Inboxes:
    """A channel per user id, in that user's group, as a connection would be."""

    def __init__(self) -> None:
        self.layer: Any = get_channel_layer()
        self.channels: dict[str, str] = {}

    async def join(self, user_id: str) -> str:
        channel = self.channels[user_id] = await self.layer.new_channel()
        await self.layer.group_add(realtime.user_group(user_id), channel)
        return channel

    async def received(self, user_id: str, timeout: float = 0.3) -> list[dict[str, Any]]:
        events = []
        while True:
            try:
                events.append(await asyncio.wait_for(self.layer.receive(self.channels[user_id]), timeout))
            except TimeoutError:
                return events


@pytest.fixture
async def inboxes() -> AsyncIterator[Inboxes]:
    boxes = Inboxes()
    yield boxes
    for user_id, channel in boxes.channels.items():
        await boxes.layer.group_discard(realtime.user_group(user_id), channel)
        await realtime.release_channel(boxes.layer, channel)


async def online(user_id: str, connections: int) -> None:
    if connections:
        await kv.async_client().sadd(connections_key(user_id), *(f"c{i}" for i in range(connections)))


def committed(sender: str, members: list[str], origin: str = "specific.conn") -> CommittedMessage:
    message = {"id": str(uuid.uuid4()), "chat_id": str(uuid.uuid4()), "sender_id": sender, "text": "hi", "seq": 1}
    return CommittedMessage(message, members, origin)


async def test_the_default_layer_shares_the_stores_server() -> None:
    assert realtime.store_channels() is not None
    with override_settings(REDIS_URL="redis://elsewhere.invalid:6379/0"):
        assert realtime.store_channels() is None


async def test_members_get_each_message_once_and_answers_split_by_connection(path: str, inboxes: Inboxes) -> None:
    alice, bob, carol = (str(uuid.uuid4()) for _ in range(3))
    for user in (alice, bob, carol):
        await inboxes.join(user)
    await online(bob, 1)
    first, second = committed(alice, [alice, bob, carol]), committed(alice, [alice, bob])

    answers = await delivery.deliver_messages([first, second])

    assert answers == [([bob], [carol]), ([bob], [])]
    assert [e["message"]["id"] for e in await inboxes.received(bob)] == [first.message["id"], second.message["id"]]
    assert [e["message"]["id"] for e in await inboxes.received(carol)] == [first.message["id"]]
    event = (await delivery.deliver_messages([first]), await inboxes.received(bob))
    assert event == ([([bob], [carol])], [])  # a retried call answers again and publishes nothing


@pytest.mark.parametrize(("sender_connections", "sender_gets_it"), [(1, False), (2, True), (0, True)])
async def test_the_senders_group_gets_it_unless_the_sending_connection_is_its_only_one(
    path: str, inboxes: Inboxes, sender_connections: int, sender_gets_it: bool
) -> None:
    alice, bob = str(uuid.uuid4()), str(uuid.uuid4())
    await inboxes.join(alice)
    await inboxes.join(bob)
    await online(alice, sender_connections)
    item = committed(alice, [alice, bob])

    await delivery.deliver_messages([item])

    mine = await inboxes.received(alice)
    assert [e["message"]["id"] for e in mine] == ([item.message["id"]] if sender_gets_it else [])
    assert all(e["origin"] == "specific.conn" and e["type"] == "chat.message" for e in mine)
    assert len(await inboxes.received(bob)) == 1


async def test_without_an_origin_the_sender_gets_it_and_a_non_member_sender_does_not(
    path: str, inboxes: Inboxes
) -> None:
    alice, bob, system = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    for user in (alice, bob, system):
        await inboxes.join(user)
    await online(alice, 1)
    rest = committed(alice, [alice, bob], origin="")
    announced = committed(system, [alice, bob])
    to_system = committed(bob, [bob, system])  # the system user is in the batch, not in announced's chat

    answers = await delivery.deliver_messages([rest, announced, to_system])

    assert answers == [([], [bob]), ([alice], [bob]), ([], [system])]
    assert len(await inboxes.received(alice)) == 2
    assert len(await inboxes.received(bob)) == 3
    assert [e["message"]["id"] for e in await inboxes.received(system)] == [to_system.message["id"]]


async def test_members_served_by_the_committing_gateway_get_no_second_copy(path: str, inboxes: Inboxes) -> None:
    """A gateway that served its own connections (realtime.Here) names them: with the
    layer on the store's server, a member none of whose live connections is outside
    them is not published to; any other layer publishes to every member, marked, and
    the gateway's connections drop their copy."""
    alice, bob, carol, dave = (str(uuid.uuid4()) for _ in range(4))
    for user in (alice, bob, carol, dave):
        await inboxes.join(user)
    await kv.async_client().sadd(connections_key(alice), "a-sending")
    await kv.async_client().sadd(connections_key(bob), "b-here")
    await kv.async_client().sadd(connections_key(carol), "c-here", "c-elsewhere")
    item = committed(alice, [alice, bob, carol, dave])._replace(
        here=realtime.Here("gateway:7", ("a-sending", "b-here", "c-here"))
    )

    answers = await delivery.deliver_messages([item])

    assert answers == [([bob, carol], [dave])]
    carols = await inboxes.received(carol)
    assert [(e["message"]["id"], e["here"]) for e in carols] == [(item.message["id"], "gateway:7")]
    assert await inboxes.received(alice) == []
    if path == "one_trip":
        assert await inboxes.received(bob) == []
        assert await inboxes.received(dave) == []  # nobody connected: nothing published
    else:
        assert [e["here"] for e in await inboxes.received(bob)] == ["gateway:7"]
        assert len(await inboxes.received(dave)) == 1
