"""Local delivery (``publish_here``) on the real channel layer: channels_redis's pub/sub on Redis."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from channels.layers import get_channel_layer
from django.test import override_settings

from neonchat import realtime


class Connections:
    """Channels of this process, registered for local delivery as the consumer does."""

    def __init__(self) -> None:
        self.layer: Any = get_channel_layer()
        self.joined: list[tuple[str, str]] = []

    async def open(self, user_id: str) -> tuple[str, str, int]:
        """(channel, conn_id, epoch) of a new connection of ``user_id``."""
        channel, conn_id = await self.layer.new_channel(), uuid.uuid4().hex
        self.joined.append((user_id, channel))
        return channel, conn_id, realtime.join_here(user_id, channel, conn_id)

    async def received(self, channel: str, timeout: float = 0.2) -> list[dict[str, Any]]:
        events = []
        while True:
            try:
                events.append(await asyncio.wait_for(self.layer.receive(channel), timeout))
            except TimeoutError:
                return events


@pytest.fixture
async def connections() -> AsyncIterator[Connections]:
    here = Connections()
    yield here
    for user_id, channel in here.joined:
        realtime.leave_here(user_id, channel)
        await realtime.release_channel(here.layer, channel)


def message(sender: str) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "chat_id": str(uuid.uuid4()), "sender_id": sender, "text": "hi", "seq": 1}


async def test_every_connection_here_of_the_audience_gets_it_but_the_sending_one(connections: Connections) -> None:
    alice, bob, carol = (str(uuid.uuid4()) for _ in range(3))
    sending, sending_id, _ = await connections.open(alice)
    other_device, other_id, _ = await connections.open(alice)
    bobs, bob_id, _ = await connections.open(bob)
    carols, _, _ = await connections.open(carol)  # not in the audience
    event = realtime.new_message_event(message(alice), sending)

    here = realtime.publish_here([alice, bob, alice], event, sending)

    assert here is not None
    assert here.by == f"{realtime.GATEWAY_ID}:{realtime._epoch}"
    assert sorted(here.connections) == sorted([sending_id, other_id, bob_id])  # the sending one is covered too
    for channel in (other_device, bobs):
        assert [e["message"] for e in await connections.received(channel)] == [event["message"]]
    assert await connections.received(sending) == []
    assert await connections.received(carols) == []


async def test_a_connection_that_left_is_neither_served_nor_covered(connections: Connections) -> None:
    alice, bob = str(uuid.uuid4()), str(uuid.uuid4())
    bobs, _, _ = await connections.open(bob)
    realtime.leave_here(bob, bobs)

    here = realtime.publish_here([alice, bob], realtime.new_message_event(message(alice)), "")

    assert here is not None and here.connections == ()
    assert await connections.received(bobs) == []


async def test_the_notifiers_copy_is_dropped_only_where_the_message_was_served(connections: Connections) -> None:
    alice, bob = str(uuid.uuid4()), str(uuid.uuid4())
    _, _, served_epoch = await connections.open(bob)
    here = realtime.publish_here([bob], realtime.new_message_event(message(alice)), "")
    assert here is not None
    _, _, later_epoch = await connections.open(bob)
    copy = realtime.new_message_event(message(alice), "", here.by)

    assert realtime.served_here(copy, served_epoch)
    assert not realtime.served_here(copy, later_epoch)  # joined after: this copy is its only one
    assert not realtime.served_here(realtime.new_message_event(message(alice), "", f"other:{later_epoch}"), 1)
    assert not realtime.served_here(realtime.new_message_event(message(alice)), served_epoch)
    assert not realtime.served_here({**copy, "here": f"{realtime.GATEWAY_ID}:x"}, served_epoch)


async def test_other_layers_serve_nothing_here() -> None:
    in_memory = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    with override_settings(CHANNEL_LAYERS=in_memory):
        assert realtime.publish_here(["u"], realtime.new_message_event(message("u")), "") is None
