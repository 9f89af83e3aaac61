"""Domain signals → realtime events.

``message_committed`` (one message, sync) and ``messages_committed`` (a group
commit of the gateway, async) go through the notifier: the gRPC client in
stack mode (``NOTIFIER_ADDR`` set), in-process delivery in embedded mode. A
gateway's group commit reaches the gateway's own connections first, straight
from the gateway (``realtime.publish_here``); only the messages a member
still needs on a connection elsewhere go to the notifier, which publishes them
to those members. Edits, deletes,
reads and revocations are published straight to the channel layer by the
process that committed them.
"""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import async_to_sync
from django.conf import settings

from accounts.signals import sessions_revoked
from messaging.selectors import chat_views
from messaging.signals import (
    CommittedMessage,
    chat_read,
    group_changed,
    message_committed,
    message_deleted,
    message_updated,
    messages_committed,
)
from neonchat import kv
from neonchat.realtime import Delivery, new_message_event, publish_here, publish_many, publish_sync
from notifier.client import async_notifier, notifier_client
from notifier.delivery import deliver_messages
from presence import store

logger = logging.getLogger(__name__)


def on_message_committed(*, message: dict[str, Any], member_ids: list[str], origin: str = "", **_: Any) -> None:
    if settings.NOTIFIER_ADDR:
        notifier_client().send_message_nowait(message=message, member_ids=member_ids, origin=origin)
    else:
        publish_sync(member_ids, new_message_event(message, origin))


async def on_messages_committed(*, messages: list[CommittedMessage], **_: Any) -> None:
    """A gateway's group commit: its own connections get the messages at once
    (``publish_here``), connections elsewhere through the notifier."""
    if settings.NOTIFIER_ADDR:
        served = [
            item._replace(here=publish_here(item.member_ids, new_message_event(item.message, item.origin), item.origin))
            for item in messages
        ]
        if rest := await _needed_elsewhere(served):
            await async_notifier().send_messages(rest)
    else:
        await deliver_messages(messages)


async def _needed_elsewhere(served: list[CommittedMessage]) -> list[CommittedMessage]:
    """The messages a member still needs on a connection this gateway does not
    serve, in one store round trip; all of them if that cannot be told (the
    notifier then decides, as it always can)."""
    if any(item.here is None for item in served):
        return served
    users = list(dict.fromkeys(uid for item in served for uid in item.member_ids))
    covered = {cid for item in served if item.here for cid in item.here.connections}
    try:
        elsewhere = await store.connected_elsewhere(users, covered)
    except kv.STORE_ERRORS as error:
        logger.warning("connection check failed (%r); the notifier decides", error)
        return served
    return [item for item in served if not elsewhere.isdisjoint(item.member_ids)]


def on_message_updated(*, message: dict[str, Any], member_ids: list[str], **_: Any) -> None:
    publish_sync(member_ids, {"type": "chat.message_updated", "message": message})


def on_message_deleted(*, chat_id: str, message_id: str, seq: int, member_ids: list[str], **_: Any) -> None:
    event = {"type": "chat.message_deleted", "chat_id": chat_id, "message_id": message_id, "seq": seq}
    publish_sync(member_ids, event)


def on_chat_read(*, chat_id: str, user_id: str, message_id: str, seq: int, member_ids: list[str], **_: Any) -> None:
    event = {"type": "chat.read", "chat_id": chat_id, "user_id": user_id, "message_id": message_id, "seq": seq}
    publish_sync([uid for uid in member_ids if uid != user_id], event)


def on_group_changed(*, chat_id: str, member_ids: list[str], added: list[str], removed: list[str], **_: Any) -> None:
    """chat_created to the added, chat_updated to the other members (each their own
    view of the chat, read in one query), chat_removed to the removed."""
    views = chat_views(chat_id=chat_id, user_ids=member_ids)
    fresh = set(added)
    deliveries: list[Delivery] = [
        ([uid], {"type": "chat.created" if uid in fresh else "chat.updated", "chat": view})
        for uid, view in views.items()
    ]
    deliveries += [([uid], {"type": "chat.removed", "chat_id": chat_id}) for uid in removed]
    async_to_sync(publish_many)(deliveries)


def on_sessions_revoked(*, user_id: str, jti: str | None, **_: Any) -> None:
    publish_sync([user_id], {"type": "session.revoked", "jti": jti})


def connect() -> None:
    message_committed.connect(on_message_committed, dispatch_uid="notifier.message_committed")
    messages_committed.connect(on_messages_committed, dispatch_uid="notifier.messages_committed")
    message_updated.connect(on_message_updated, dispatch_uid="notifier.message_updated")
    message_deleted.connect(on_message_deleted, dispatch_uid="notifier.message_deleted")
    chat_read.connect(on_chat_read, dispatch_uid="notifier.chat_read")
    group_changed.connect(on_group_changed, dispatch_uid="notifier.group_changed")
    sessions_revoked.connect(on_sessions_revoked, dispatch_uid="notifier.sessions_revoked")
