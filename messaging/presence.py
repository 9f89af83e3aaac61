"""Presence changes told to partners: who shares a chat with whom is messaging's
knowledge (chats), the live state is ``presence``'s. Wired into the heartbeat
registry by :meth:`messaging.apps.MessagingConfig.ready`."""

from __future__ import annotations

import time

from accounts.services import user_touch_last_seen
from chats.selectors import partner_ids
from neonchat.db import db_call
from neonchat.realtime import publish
from presence.heartbeat import registry


async def presence_changed(user_id: str, event: str) -> None:
    """Tell everyone who shares a chat with ``user_id`` (user_online/away/offline)."""
    audience = await db_call(partner_ids)(user_id=user_id)
    frame = {"type": "presence.event", "event": event, "user_id": user_id, "timestamp": int(time.time())}
    await publish(audience, frame)


async def went_offline(user_id: str) -> None:
    await db_call(user_touch_last_seen)(user_id=user_id)
    await presence_changed(user_id, "user_offline")


async def came_back(user_id: str) -> None:
    await presence_changed(user_id, "user_online")


def connect() -> None:
    registry.on_offline = went_offline
    registry.on_online = came_back
