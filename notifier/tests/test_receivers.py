"""A gateway's group commit (``on_messages_committed``) in stack mode: its own
sockets at once, the real notifier only for messages a member needs elsewhere."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from channels.layers import get_channel_layer

from messaging.signals import CommittedMessage
from neonchat import kv, realtime
from notifier.client import close_async_notifier
from notifier.receivers import on_messages_committed
from notifier.tests.conftest import ServerThread
from presence import store


class Sockets:
    """Connections as consumers register them: in the store, and here or on another gateway."""

    def __init__(self) -> None:
        self.layer: Any = get_channel_layer()
        self.opened: list[tuple[str, str, str, bool]] = []

    async def open(self, user_id: str, *, here: bool) -> str:
        channel, conn_id = await self.layer.new_channel(), uuid.uuid4().hex
        await store.connection_opened(user_id, conn_id)
        await self.layer.group_add(realtime.user_group(user_id), channel)
        if here:
            realtime.join_here(user_id, channel, conn_id)
        self.opened.append((user_id, channel, conn_id, here))
        return channel

    async def texts(self, channel: str) -> list[str]:
        texts: list[str] = []
        while True:
            try:
                event = await asyncio.wait_for(self.layer.receive(channel), 0.3)
            except TimeoutError:
                return texts
            texts.append(event["message"]["text"])

    async def close(self) -> None:
        for user_id, channel, conn_id, here in self.opened:
            if here:
                realtime.leave_here(user_id, channel)
            await self.layer.group_discard(realtime.user_group(user_id), channel)
            await realtime.release_channel(self.layer, channel)
            await store.connection_closed(user_id, conn_id)


@pytest.fixture
async def sockets(notifier_server: ServerThread, settings: Any) -> AsyncIterator[Sockets]:
    settings.NOTIFIER_ADDR = f"127.0.0.1:{notifier_server.port}"
    opened = Sockets()
    yield opened
    await opened.close()
    await close_async_notifier()


def committed(sender: str, members: list[str], origin: str, text: str) -> CommittedMessage:
    message = {"id": str(uuid.uuid4()), "chat_id": str(uuid.uuid4()), "sender_id": sender, "text": text, "seq": 1,
               "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"}  # fmt: skip
    return CommittedMessage(message, members, origin)


async def notified(item: CommittedMessage) -> bool:
    """The notifier handled the message (its dedup mark is set)."""
    return bool(await kv.async_client().exists(f"notify:sent:{item.message['id']}"))


async def test_the_notifier_gets_only_the_messages_a_member_needs_elsewhere(sockets: Sockets) -> None:
    alice, bob, carol = (str(uuid.uuid4()) for _ in range(3))
    sending = await sockets.open(alice, here=True)
    bobs = await sockets.open(bob, here=True)
    carols_elsewhere = await sockets.open(carol, here=False)
    local = committed(alice, [alice, bob], sending, "to bob")
    remote = committed(alice, [alice, carol], sending, "to carol")

    await on_messages_committed(messages=[local, remote])

    assert await sockets.texts(bobs) == ["to bob"]
    assert await sockets.texts(carols_elsewhere) == ["to carol"]  # through the notifier
    assert await sockets.texts(sending) == []
    assert not await notified(local)  # every member's sockets were here: no call for it
    assert await notified(remote)


async def test_a_second_device_elsewhere_still_gets_the_senders_message(sockets: Sockets) -> None:
    alice, bob = str(uuid.uuid4()), str(uuid.uuid4())
    sending = await sockets.open(alice, here=True)
    alices_laptop = await sockets.open(alice, here=False)
    bobs = await sockets.open(bob, here=True)
    item = committed(alice, [alice, bob], sending, "hello")

    await on_messages_committed(messages=[item])

    assert await sockets.texts(bobs) == ["hello"]
    assert await sockets.texts(alices_laptop) == ["hello"]
    assert await notified(item)


async def test_when_the_store_cannot_tell_every_message_goes_to_the_notifier(sockets: Sockets, settings: Any) -> None:
    alice, bob, carol = (str(uuid.uuid4()) for _ in range(3))
    sending = await sockets.open(alice, here=True)
    await sockets.open(bob, here=True)
    carols_elsewhere = await sockets.open(carol, here=False)
    warm_up = committed(alice, [alice, carol], sending, "the notifier is connected")
    await on_messages_committed(messages=[warm_up])
    assert await sockets.texts(carols_elsewhere) == ["the notifier is connected"]
    local = committed(alice, [alice, bob], sending, "to bob")

    loop = asyncio.get_running_loop()
    working = kv._async_clients.pop(loop)
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens: this loop's next client fails
    try:
        await on_messages_committed(messages=[local])
    finally:
        await kv._async_clients.pop(loop).aclose()
        kv._async_clients[loop] = working
    assert await notified(local)  # the notifier (its own connection) had it
