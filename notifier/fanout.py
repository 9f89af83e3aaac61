"""Fan-out of realtime events to users' connections over the channel layer.

One group per user (``user.<id>``); every connection of the user joins it.
The channel layer is only a doorbell (at-most-once): clients detect ``seq``
gaps and recover from history, so the database carries the guarantee.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from prometheus_client import Counter

logger = logging.getLogger(__name__)

BROADCAST_GROUP = "broadcast"

events_published = Counter("neonchat_events_published_total", "Realtime events published", ["type"])
publish_errors = Counter("neonchat_event_publish_errors_total", "Realtime events that failed to publish", ["type"])


def user_group(user_id: str) -> str:
    return f"user.{user_id}"


def new_message_event(message: dict[str, Any], origin: str = "") -> dict[str, Any]:
    # sent_at (monotonic-free wall clock) lets gateways observe delivery latency.
    return {"type": "chat.message", "message": message, "origin": origin, "sent_at": time.time()}


async def publish(user_ids: list[str], event: dict[str, Any]) -> None:
    """Send ``event`` to every connection of each user. Never raises."""
    layer = get_channel_layer()
    if layer is None or not user_ids:
        return
    results = await asyncio.gather(
        *(layer.group_send(user_group(uid), event) for uid in dict.fromkeys(user_ids)), return_exceptions=True
    )
    failures = [r for r in results if isinstance(r, BaseException)]
    events_published.labels(event["type"]).inc(len(results) - len(failures))
    if failures:
        publish_errors.labels(event["type"]).inc(len(failures))
        logger.warning("fan-out of %s failed for %d user(s): %r", event["type"], len(failures), failures[0])


async def broadcast(event: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        await layer.group_send(BROADCAST_GROUP, event)
        events_published.labels(event["type"]).inc()
    except Exception as error:  # the layer's transport errors vary by backend
        publish_errors.labels(event["type"]).inc()
        logger.warning("broadcast of %s failed: %r", event["type"], error)


def publish_sync(user_ids: list[str], event: dict[str, Any]) -> None:
    """:func:`publish` from sync code (services' on-commit hooks run there)."""
    async_to_sync(publish)(user_ids, event)
