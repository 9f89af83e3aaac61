"""``chat_messages_sent_total`` by chat kind and outcome, counted by the service
layer whichever path stored the message: the one-statement send (REST) and the
WebSocket group commit, on real PostgreSQL."""

from __future__ import annotations

import uuid

import pytest
from channels.db import database_sync_to_async
from prometheus_client import REGISTRY

from accounts.models import User
from chats.models import Chat
from chats.services import chat_get_or_create
from messaging.batching import close_batcher, message_send_async
from messaging.groups import group_create
from messaging.services import message_send
from neonchat.errors import ApplicationError

pytestmark = pytest.mark.django_db(transaction=True)

Key = tuple[str, str]  # (chat_type, status)
OUTCOMES: list[Key] = [("direct", "created"), ("direct", "duplicate"), ("group", "created"), ("group", "duplicate")]
OUTCOMES.append(("unknown", "rejected"))
# A new message and its repeat in a direct chat and in a group, then a send to a chat of others.
EXPECTED_REPLIES = [True, False, True, False, "chat_not_found"]
EXPECTED_COUNTS = dict.fromkeys(OUTCOMES, 1.0)


def counts() -> dict[Key, float]:
    sample = REGISTRY.get_sample_value
    return {key: sample("chat_messages_sent_total", {"chat_type": key[0], "status": key[1]}) or 0.0 for key in OUTCOMES}


def counted(before: dict[Key, float]) -> dict[Key, float]:
    """What was counted since ``before``, outcomes with no change left out."""
    return {key: value - before[key] for key, value in counts().items() if value != before[key]}


def sends() -> tuple[User, list[tuple[Chat, uuid.UUID]]]:
    """The sender and the (chat, request_id) of each send, in order (the group's creation is counted here)."""
    alice, bob, carol, dave = (User.objects.create_user(f"m{uuid.uuid4().hex[:10]}", "horse-battery") for _ in "abcd")
    direct = chat_get_or_create(user_id=alice.pk, partner_id=bob.pk)[0]
    group = group_create(user_id=alice.pk, title="team", member_ids=[bob.pk, carol.pk])
    foreign = chat_get_or_create(user_id=carol.pk, partner_id=dave.pk)[0]
    first, second = uuid.uuid4(), uuid.uuid4()
    return alice, [(direct, first), (direct, first), (group, second), (group, second), (foreign, uuid.uuid4())]


def test_a_rest_send_is_counted_by_its_chat_kind_and_outcome() -> None:
    alice, planned = sends()
    before, replies = counts(), list[bool | str]()
    for chat, request_id in planned:
        try:
            replies.append(message_send(sender_id=alice.pk, chat_id=chat.pk, text="x", request_id=request_id)[1])
        except ApplicationError as error:
            replies.append(error.code)
    assert replies == EXPECTED_REPLIES
    assert counted(before) == EXPECTED_COUNTS


@pytest.mark.asyncio
async def test_a_websocket_send_is_counted_by_its_chat_kind_and_outcome() -> None:
    alice, planned = await database_sync_to_async(sends)()
    before, replies = counts(), list[bool | str]()
    try:
        for chat, request_id in planned:  # one at a time: a repeat finds its original committed
            try:
                sent = await message_send_async(sender_id=alice.pk, chat_id=chat.pk, text="x", request_id=request_id)
                replies.append(sent[1])
            except ApplicationError as error:
                replies.append(error.code)
    finally:
        await close_batcher()
    assert replies == EXPECTED_REPLIES
    assert counted(before) == EXPECTED_COUNTS
