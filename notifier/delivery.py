"""What the notifier does, transport-free: used by the gRPC servicer and in-process."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from messaging.signals import CommittedMessage
from neonchat import kv
from neonchat.errors import InvalidInput
from neonchat.ids import uuid_or_none
from neonchat.realtime import Delivery, broadcast, new_message_event, publish, publish_many
from neonchat.text import TEXT_MAX
from presence import store
from presence.store import DEADLINES

MAX_USER_IDS = 10_000
DEDUP_TTL = 600


def parse_user_ids(raw: list[str], *, field: str = "user_ids") -> list[str]:
    if len(raw) > MAX_USER_IDS:
        raise InvalidInput(f"at most {MAX_USER_IDS} {field} per call", code="too_many_ids")
    parsed = [uuid_or_none(value) for value in raw]
    if None in parsed:
        raise InvalidInput(f"{field} must be UUIDs", code="invalid_id")
    return [str(value) for value in parsed]


async def _split_by_connection(user_ids: list[str]) -> tuple[list[str], list[str]]:
    counts = await store.live_connection_counts(user_ids) if user_ids else {}
    online = [uid for uid in user_ids if counts.get(uid)]
    offline = [uid for uid in user_ids if not counts.get(uid)]
    return online, offline


async def deliver_messages(committed: Sequence[CommittedMessage]) -> list[tuple[list[str], list[str]]]:
    """Publish ``new_message`` to every member's connections (the sender's other
    devices included, not the sending connection); per message, the recipients
    with and without a live connection.

    A retried call with the same message id (within ``DEDUP_TTL`` s) does not
    deliver twice. The dedup marks and the connection counts of the whole batch
    share one Redis round trip; the events go out in one pipeline per shard.
    When the sending connection is its sender's only one, nothing is published
    to the sender (it would be dropped there).
    """
    users = list(dict.fromkeys(uid for item in committed for uid in item.member_ids))
    async with kv.async_client().pipeline(transaction=False) as pipe:
        for item in committed:
            pipe.set(f"notify:sent:{item.message['id']}", "1", nx=True, ex=DEDUP_TTL)
        for uid in users:
            pipe.scard(f"user:{uid}:ws_connections")
        replies = await pipe.execute()
    first_time, counts = replies[: len(committed)], dict(zip(users, replies[len(committed) :], strict=True))
    deliveries: list[Delivery] = []
    answers = []
    for item, first in zip(committed, first_time, strict=True):
        sender = item.message["sender_id"]
        recipients = [uid for uid in item.member_ids if uid != sender]
        answers.append(([u for u in recipients if counts[u]], [u for u in recipients if not counts[u]]))
        if first:
            only_origin = item.origin and counts.get(sender) == 1
            audience = recipients if only_origin else item.member_ids
            deliveries.append((audience, new_message_event(item.message, item.origin)))
    await publish_many(deliveries)
    return answers


async def deliver_message(
    message: dict[str, Any], member_ids: list[str], origin: str = ""
) -> tuple[list[str], list[str]]:
    """:func:`deliver_messages` of one message."""
    return (await deliver_messages([CommittedMessage(message, member_ids, origin)]))[0]


def validate_system_text(text: str) -> str:
    if not text.strip() or len(text) > TEXT_MAX or "\x00" in text:
        raise InvalidInput(f"text must be 1-{TEXT_MAX} characters, not blank", code="invalid_text")
    return text


async def deliver_system(text: str, user_ids: list[str], metadata: dict[str, str]) -> int:
    """A ``system`` frame to ``user_ids`` or, with none, to every connected user."""
    validate_system_text(text)
    event = {"type": "system.message", "text": text, "metadata": dict(metadata)}
    if not user_ids:
        await broadcast(event)
        return int(await kv.async_client().zcard(DEADLINES))
    online, _ = await _split_by_connection(user_ids)
    await publish(user_ids, event)
    return len(online)
