"""The channel layer, owned in one place: group names, event shapes, publishing.

One group per user (``user.<id>``); every connection of the user joins it,
and every connection joins ``broadcast``. The channel layer is only a doorbell
(at-most-once): clients detect ``seq`` gaps and recover from history, so the
database carries the guarantee.

Everything realtime (the consumer, the notifier, presence) publishes through
this module. :func:`publish_many` sends a whole batch of events with one Redis
pipeline per shard on channels_redis's pub/sub layer, each event encoded once;
:func:`store_channels` lets a store script publish exactly as the layer would,
when the layer lives on the key-value store's server (the notifier's fan-out).

A gateway delivers a committed message to its **own** connections itself
(:func:`publish_here`), at commit time, without the hop through the
notifier and Redis; the notifier is called only for the messages a member
needs on a connection elsewhere and publishes only to those members, and a
copy that still reaches a connection served here is dropped by it
(:func:`served_here`).
"""

from __future__ import annotations

import asyncio
import contextvars
import itertools
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from prometheus_client import Counter

logger = logging.getLogger(__name__)

BROADCAST_GROUP = "broadcast"

# The channel name of the connection a write came from: its own new_message is
# not sent back to it. Set by the consumer around a send; carried in the event.
origin_var: contextvars.ContextVar[str] = contextvars.ContextVar("realtime_origin", default="")

events_published = Counter("neonchat_events_published_total", "Realtime events published", ["type"])
publish_errors = Counter("neonchat_event_publish_errors_total", "Realtime events that failed to publish", ["type"])

Delivery = tuple[Sequence[str], dict[str, Any]]  # (user ids, event)


@dataclass(frozen=True, slots=True)
class Here:
    """A message this process delivered to its own connections (:func:`publish_here`).

    ``by`` names the process and the moment (``"<gateway id>:<epoch>"``): a
    connection of this process that joined at or before that epoch has had
    the message. ``connections`` are the connection ids (``conn_id``) it
    covered, the sending one included: a user none of whose live connections
    is outside them needs nothing more.
    """

    by: str
    connections: tuple[str, ...]


# This process, as the origin of local deliveries.
GATEWAY_ID = uuid.uuid4().hex
_epochs = itertools.count(1)
_epoch = 0
# user id -> channel name -> (conn_id, epoch of joining): this process's connections.
_here: dict[str, dict[str, tuple[str, int]]] = {}


def user_group(user_id: str) -> str:
    return f"user.{user_id}"


def new_message_event(message: dict[str, Any], origin: str = "", here: str = "") -> dict[str, Any]:
    # sent_at (wall clock) lets gateways observe delivery latency; here: Here.by, when a gateway served its own.
    event = {"type": "chat.message", "message": message, "origin": origin, "sent_at": time.time()}
    if here:
        event["here"] = here
    return event


def _pubsub_shards(layer: Any) -> Any | None:
    """The per-loop layer of channels_redis's pub/sub backend, or ``None`` for others."""
    get_layer = getattr(layer, "_get_layer", None)
    loop_layer = get_layer() if get_layer is not None else None
    if loop_layer is None or not hasattr(loop_layer, "_shards"):
        return None
    return loop_layer


async def _pipelined_publish(loop_layer: Any, frames: list[tuple[str, bytes]]) -> None:
    """PUBLISH every (group, payload) with one pipeline per shard.

    channels_redis publishes one group per round trip under a per-shard lock;
    this sends the same PUBLISH commands, to the same channel names, through
    the same shard connections, in one round trip.
    """
    by_shard: dict[Any, list[tuple[str, bytes]]] = defaultdict(list)
    for group, payload in frames:
        channel = loop_layer._get_group_channel_name(group)
        by_shard[loop_layer._get_shard(channel)].append((channel, payload))
    for shard, items in by_shard.items():
        async with shard._lock:
            shard._ensure_redis()
            pipe = shard._redis.pipeline(transaction=False)
            for channel, payload in items:
                pipe.publish(channel, payload)
            await pipe.execute()


@dataclass(frozen=True, slots=True)
class StoreChannels:
    """What a key-value store script needs to PUBLISH events exactly as the layer would."""

    loop_layer: Any
    encode: Callable[[dict[str, Any]], bytes]

    def channel(self, user_id: str) -> str:
        """The pub/sub channel of ``user_id``'s group."""
        return str(self.loop_layer._get_group_channel_name(user_group(user_id)))


def store_channels() -> StoreChannels | None:
    """The layer as seen from the key-value store, when they are one server.

    That is channels_redis's pub/sub layer on a single host equal to
    ``REDIS_URL`` (the default: ``CHANNEL_LAYER_HOSTS`` is ``[REDIS_URL]``):
    then a store script can decide and publish in the same round trip
    (Redis's PUBLISH ignores the database number). Otherwise ``None``.
    """
    layer = get_channel_layer()
    loop_layer = _pubsub_shards(layer) if layer is not None else None
    if loop_layer is None or len(loop_layer._shards) != 1:
        return None
    if loop_layer._shards[0].host.get("address") != settings.REDIS_URL:
        return None
    return StoreChannels(loop_layer, layer.serialize)


def count_published(event_type: str, users: int) -> None:
    """Count an event published to ``users`` groups outside :func:`publish_many` (by a store script)."""
    events_published.labels(event_type).inc(users)


def join_here(user_id: str, channel: str, conn_id: str) -> int:
    """Register a connection of this process for :func:`publish_here`; its epoch."""
    global _epoch
    _epoch = next(_epochs)
    _here.setdefault(user_id, {})[channel] = (conn_id, _epoch)
    return _epoch


def leave_here(user_id: str, channel: str) -> None:
    connections = _here.get(user_id)
    if connections is not None:
        connections.pop(channel, None)
        if not connections:
            del _here[user_id]


def publish_here(user_ids: Sequence[str], event: dict[str, Any], origin: str) -> Here | None:
    """Put ``event`` straight into the inbox of every connection of ``user_ids``
    this process serves (not ``origin``), encoded once; what it covered.

    ``None`` when the layer is not channels_redis's pub/sub (then nothing is
    delivered here, and the notifier publishes to everyone as before). A
    gateway serves its sockets from one event loop: the one calling this.
    """
    layer = get_channel_layer()
    loop_layer = _pubsub_shards(layer) if layer is not None else None
    if loop_layer is None:
        return None
    payload: bytes | None = None
    covered: list[str] = []
    for uid in dict.fromkeys(user_ids):
        for channel, (conn_id, _) in _here.get(uid, {}).items():
            inbox = loop_layer.channels.get(channel)
            if inbox is None:  # its connection is ending
                continue
            covered.append(conn_id)
            if channel == origin:
                continue
            if payload is None:
                payload = layer.serialize(event)
            inbox.put_nowait(payload)
            events_published.labels(event["type"]).inc()
    return Here(f"{GATEWAY_ID}:{_epoch}", tuple(covered))


def served_here(event: dict[str, Any], epoch: int) -> bool:
    """The event is a copy of one this process already put in the inbox of a
    connection that joined at ``epoch`` (see :class:`Here`)."""
    gateway, _, moment = str(event.get("here") or "").partition(":")
    return gateway == GATEWAY_ID and moment.isdigit() and epoch <= int(moment)


async def release_channel(layer: Any, channel: str) -> None:
    """Forget a consumer's channel once its connection ended.

    channels_redis's pub/sub layer unsubscribes a channel when a ``receive`` on
    it is cancelled (Channels' own loop always ends that way); a consumer whose
    event loop ended otherwise (inside a handler, or before it started) calls
    this to do the same. Other layers need nothing.
    """
    loop_layer = _pubsub_shards(layer)
    if loop_layer is None or loop_layer.channels.pop(channel, None) is None:
        return
    try:
        await loop_layer._get_shard(channel).unsubscribe(channel)
    except Exception as error:  # the layer's transport errors vary by backend
        logger.warning("unsubscribing %s failed: %r", channel, error)


async def publish_many(deliveries: Iterable[Delivery]) -> None:
    """Send each event to every connection of its users, as few round trips as
    the layer allows. Never raises: delivery failures are counted and logged."""
    layer = get_channel_layer()
    batch = [(dict.fromkeys(user_ids), event) for user_ids, event in deliveries if user_ids]
    if layer is None or not batch:
        return
    loop_layer = _pubsub_shards(layer)
    try:
        if loop_layer is not None:
            frames: list[tuple[str, bytes]] = []
            for user_ids, event in batch:
                payload = layer.serialize(event)  # encoded once, whatever the audience
                frames.extend((user_group(uid), payload) for uid in user_ids)
            await _pipelined_publish(loop_layer, frames)
        else:
            sends = [layer.group_send(user_group(uid), event) for user_ids, event in batch for uid in user_ids]
            for result in await asyncio.gather(*sends, return_exceptions=True):
                if isinstance(result, BaseException):
                    raise result
    except Exception as error:  # the layer's transport errors vary by backend
        for user_ids, event in batch:
            publish_errors.labels(event["type"]).inc(len(user_ids))
        logger.warning("fan-out of %d event(s) failed: %r", len(batch), error)
        return
    for user_ids, event in batch:
        events_published.labels(event["type"]).inc(len(user_ids))


async def publish(user_ids: Sequence[str], event: dict[str, Any]) -> None:
    """Send ``event`` to every connection of each user. Never raises."""
    await publish_many([(user_ids, event)])


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


def publish_sync(user_ids: Sequence[str], event: dict[str, Any]) -> None:
    """:func:`publish` from sync code (services' on-commit hooks run there)."""
    async_to_sync(publish)(user_ids, event)
