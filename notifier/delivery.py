"""What the notifier does, transport-free: used by the gRPC servicer and in-process."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from messaging.signals import CommittedMessage
from neonchat import kv
from neonchat.errors import InvalidInput
from neonchat.ids import uuid_or_none
from neonchat.realtime import (
    Delivery,
    StoreChannels,
    broadcast,
    count_published,
    new_message_event,
    publish,
    publish_many,
    store_channels,
)
from neonchat.text import TEXT_MAX
from presence import store
from presence.store import DEADLINES, connections_key

MAX_USER_IDS = 10_000
DEDUP_TTL = 600

Answer = tuple[list[str], list[str]]  # (recipients with a live connection, without)

# The whole fan-out of a batch in one round trip, when the channel layer lives
# on the key-value store's server (realtime.store_channels): each message is
# published only if its dedup mark is new. When the committing gateway served
# its own connections (realtime.Here), a member's group gets it only if the
# member has a live connection outside those; otherwise the sender's group
# gets it unless the sending connection is the sender's only one (it would be
# dropped there).
# KEYS: the messages' dedup marks (M), then the users' connection sets (U).
# ARGV: ttl, M, U, the users' channels (U), then per message: its payload,
#   its sender's index among the users (0: not a member), 1 if it has an
#   origin connection, R, its R other members' indexes, then H (-1: no gateway
#   served any) and the H connection ids the gateway covered.
# Returns the users' connection counts (U), then per message the number of
# groups it was published to, or -1 for a repeat.
_DELIVER_SCRIPT = kv.register_script("""
local ttl, m, u = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local out, members = {}, {}
for j = 1, u do out[j] = redis.call('SCARD', KEYS[m + j]) end
local function elsewhere(j, here)
  if not here then return true end
  members[j] = members[j] or redis.call('SMEMBERS', KEYS[m + j])
  for _, cid in ipairs(members[j]) do
    if not here[cid] then return true end
  end
  return false
end
local pos = 4 + u
for i = 1, m do
  local payload, sender, origin, r = ARGV[pos], tonumber(ARGV[pos + 1]), ARGV[pos + 2] == '1', tonumber(ARGV[pos + 3])
  local h = tonumber(ARGV[pos + 4 + r])
  local here = nil
  if h >= 0 then
    here = {}
    for k = 1, h do here[ARGV[pos + 4 + r + k]] = true end
  end
  local published = -1
  if redis.call('SET', KEYS[i], '1', 'NX', 'EX', ttl) then
    published = 0
    for k = 1, r + 1 do
      local j = tonumber(ARGV[pos + 3 + k])
      if k > r then
        j = sender
        if not here and origin and out[sender] == 1 then j = 0 end
      end
      if j > 0 and elsewhere(j, here) then
        redis.call('PUBLISH', ARGV[3 + j], payload)
        published = published + 1
      end
    end
  end
  out[u + i] = published
  pos = pos + 5 + r + math.max(h, 0)
end
return out
""")


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


def _dedup_key(item: CommittedMessage) -> str:
    return f"notify:sent:{item.message['id']}"


def _others(item: CommittedMessage) -> list[str]:
    sender = item.message["sender_id"]
    return [uid for uid in dict.fromkeys(item.member_ids) if uid != sender]


def _sender_is_member(item: CommittedMessage) -> bool:
    return item.message["sender_id"] in item.member_ids


def _skips_sender(item: CommittedMessage, counts: dict[str, int]) -> bool:
    """The sending connection is its sender's only one (what the sender's group gets would be dropped there)."""
    return bool(item.origin) and counts.get(item.message["sender_id"]) == 1


def _event(item: CommittedMessage) -> dict[str, Any]:
    """``new_message``'s event; marked when the committing gateway served its own connections."""
    return new_message_event(item.message, item.origin, item.here.by if item.here else "")


def _answer(item: CommittedMessage, counts: dict[str, int]) -> Answer:
    others = _others(item)
    return [u for u in others if counts[u]], [u for u in others if not counts[u]]


async def deliver_messages(committed: Sequence[CommittedMessage]) -> list[Answer]:
    """Publish ``new_message`` to every member's connections (the sender's other
    devices included, not the sending connection); per message, the recipients
    with and without a live connection.

    A retried call with the same message id (within ``DEDUP_TTL`` s) does not
    deliver twice. When the sending connection is its sender's only one,
    nothing is published to the sender (it would be dropped there). With the
    channel layer on the key-value store's server (the default) the whole batch
    is one Redis round trip; otherwise the dedup marks and the connection counts
    share one, and the events go out in one pipeline per shard.
    """
    users = list(dict.fromkeys(uid for item in committed for uid in item.member_ids))
    channels = store_channels()
    if channels is not None:
        return await _deliver_in_one_trip(committed, users, channels)
    async with kv.async_client().pipeline(transaction=False) as pipe:
        for item in committed:
            pipe.set(_dedup_key(item), "1", nx=True, ex=DEDUP_TTL)
        for uid in users:
            pipe.scard(connections_key(uid))
        replies = await pipe.execute()
    first_time, counts = replies[: len(committed)], dict(zip(users, replies[len(committed) :], strict=True))
    deliveries: list[Delivery] = []
    for item, first in zip(committed, first_time, strict=True):
        if first:
            audience = _others(item) if _skips_sender(item, counts) else item.member_ids
            deliveries.append((audience, _event(item)))
    await publish_many(deliveries)
    return [_answer(item, counts) for item in committed]


async def _deliver_in_one_trip(
    committed: Sequence[CommittedMessage], users: list[str], channels: StoreChannels
) -> list[Answer]:
    """:func:`deliver_messages` as one store script (see ``_DELIVER_SCRIPT``)."""
    index = {uid: i for i, uid in enumerate(users, start=1)}
    args: list[str | bytes | int] = [DEDUP_TTL, len(committed), len(users), *map(channels.channel, users)]
    events = [_event(item) for item in committed]
    for item, event in zip(committed, events, strict=True):
        others = [index[uid] for uid in _others(item)]
        sender = index[item.message["sender_id"]] if _sender_is_member(item) else 0
        args += [channels.encode(event), sender, int(bool(item.origin)), len(others), *others]
        args += [-1] if item.here is None else [len(item.here.connections), *item.here.connections]
    keys = [*map(_dedup_key, committed), *map(connections_key, users)]
    replies = [int(n) for n in await _DELIVER_SCRIPT(keys, args)]
    counts = dict(zip(users, replies[: len(users)], strict=True))
    for event, published in zip(events, replies[len(users) :], strict=True):
        if published > 0:
            count_published(event["type"], published)
    return [_answer(item, counts) for item in committed]


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
