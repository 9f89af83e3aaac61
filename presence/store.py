"""Presence in the key-value store, with race-free transitions (Lua scripts).

Keys (contract): ``online:{user_id}`` JSON ``{user_id, status, last_seen,
device_id}`` with a TTL refreshed by each connection's heartbeat, and
``user:{user_id}:ws_connections``, the set of live connection ids. Each
connection also has ``ws_conn:{conn_id}`` (same TTL), so connections of a
gateway that died without cleaning up are recognised as dead, and the sorted
set ``presence:deadlines`` lets any gateway's reaper find users whose last
connection expired and announce them offline exactly once.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.conf import settings

from neonchat import kv
from neonchat.errors import RateLimited

DEADLINES = "presence:deadlines"

# Removes connection ids whose ws_conn key expired; returns live count.
_PRUNE = """
local function prune(set_key)
  for _, cid in ipairs(redis.call('SMEMBERS', set_key)) do
    if redis.call('EXISTS', 'ws_conn:' .. cid) == 0 then redis.call('SREM', set_key, cid) end
  end
  return redis.call('SCARD', set_key)
end
"""

# Refuses (-1) when the user already holds ARGV[6] live connections (any
# gateway); dead ones are pruned first so that a crashed gateway's sockets do
# not count. Check and add are one script: concurrent handshakes cannot overshoot.
_CONNECT = kv.register_script(
    _PRUNE
    + """
local set_key, online_key = KEYS[1], KEYS[2]
local uid, cid, device, now, ttl = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
local cap = tonumber(ARGV[6])
if redis.call('SISMEMBER', set_key, cid) == 0 and redis.call('SCARD', set_key) >= cap and prune(set_key) >= cap then
  return -1
end
local was_online = redis.call('EXISTS', online_key)
local status = 'online'
if was_online == 1 then
  local ok, cur = pcall(cjson.decode, redis.call('GET', online_key))
  if ok and cur['status'] then status = cur['status'] end
end
redis.call('SADD', set_key, cid)
redis.call('SET', 'ws_conn:' .. cid, uid, 'EX', ttl)
redis.call('SET', online_key, cjson.encode({user_id=uid, status=status, last_seen=now, device_id=device}), 'EX', ttl)
redis.call('EXPIRE', set_key, ttl * 2)
redis.call('ZADD', KEYS[3], now + ttl, uid)
return 1 - was_online
"""
)

_DISCONNECT = kv.register_script(
    _PRUNE
    + """
local set_key, online_key = KEYS[1], KEYS[2]
local cid = ARGV[1]
redis.call('SREM', set_key, cid)
redis.call('DEL', 'ws_conn:' .. cid)
if prune(set_key) == 0 then
  local existed = redis.call('DEL', online_key)
  redis.call('ZREM', KEYS[3], ARGV[2])
  return existed
end
return 0
"""
)

_HEARTBEAT = kv.register_script("""
local set_key, online_key = KEYS[1], KEYS[2]
local uid, cid, now, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
redis.call('SADD', set_key, cid)
redis.call('EXPIRE', set_key, ttl * 2)
redis.call('SET', 'ws_conn:' .. cid, uid, 'EX', ttl)
local raw = redis.call('GET', online_key)
local cur = {user_id=uid, status='online', device_id=''}
if raw then
  local ok, decoded = pcall(cjson.decode, raw)
  if ok then cur = decoded end
end
cur['last_seen'] = now
redis.call('SET', online_key, cjson.encode(cur), 'EX', ttl)
redis.call('ZADD', KEYS[3], now + ttl, uid)
if raw then return 0 end
return 1
""")

_SET_STATUS = kv.register_script("""
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local cur = cjson.decode(raw)
if cur['status'] == ARGV[1] then return 0 end
cur['status'] = ARGV[1]
cur['last_seen'] = tonumber(ARGV[2])
redis.call('SET', KEYS[1], cjson.encode(cur), 'KEEPTTL')
return 1
""")

_REAP = kv.register_script(
    _PRUNE
    + """
local now, ttl = tonumber(ARGV[1]), tonumber(ARGV[2])
local gone = {}
for _, uid in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 500)) do
  local set_key = 'user:' .. uid .. ':ws_connections'
  if prune(set_key) == 0 then
    redis.call('DEL', 'online:' .. uid)
    redis.call('ZREM', KEYS[1], uid)
    table.insert(gone, uid)
  else
    redis.call('ZADD', KEYS[1], now + ttl, uid)
  end
end
return gone
"""
)


class TooManyConnections(RateLimited):
    """The user already holds ``WS_MAX_CONNECTIONS_PER_USER`` live connections."""

    code = "too_many_connections"
    default_message = "Too many open connections for this account."


def connections_key(user_id: str) -> str:
    """The set of ``user_id``'s live connection ids (its size: how many are open)."""
    return f"user:{user_id}:ws_connections"


def _keys(user_id: str) -> list[str]:
    return [connections_key(user_id), f"online:{user_id}", DEADLINES]


def _ttl() -> int:
    return int(settings.PRESENCE_TTL)


async def connection_opened(user_id: str, conn_id: str, device_id: str = "") -> bool:
    """Register a live connection; True if the user just came online.

    Raises :class:`TooManyConnections`, registering nothing, when the user
    already holds ``WS_MAX_CONNECTIONS_PER_USER`` live connections across all
    gateways.
    """
    now = int(time.time())
    cap = int(settings.WS_MAX_CONNECTIONS_PER_USER)
    result = int(await _CONNECT(_keys(user_id), [user_id, conn_id, device_id, now, _ttl(), cap]))
    if result < 0:
        raise TooManyConnections(details={"limit": cap})
    return bool(result)


async def connection_closed(user_id: str, conn_id: str) -> bool:
    """Drop a connection; True if it was the user's last one (now offline)."""
    result = await _DISCONNECT(_keys(user_id), [conn_id, user_id])
    return bool(int(result))


async def heartbeats(connections: Sequence[tuple[str, str]]) -> list[bool]:
    """Refresh live ``(user_id, conn_id)`` connections in one round trip; for each, True
    if the user's presence had expired meanwhile."""
    now, ttl = int(time.time()), _ttl()
    results = await _HEARTBEAT.many([(_keys(uid), [uid, cid, now, ttl]) for uid, cid in connections])
    return [bool(int(result)) for result in results]


async def set_status(user_id: str, status: str) -> bool:
    """Set ``online``/``away``; True if it changed."""
    result = await _SET_STATUS([f"online:{user_id}"], [status, int(time.time())])
    return bool(int(result))


async def reap_expired() -> list[str]:
    """Users whose every connection expired (a dead gateway); each returned once."""
    gone = await _REAP([DEADLINES], [int(time.time()), _ttl()])
    return [str(uid) for uid in gone]


@dataclass(frozen=True, slots=True)
class UserStatus:
    user_id: str
    status: str  # online | away | offline
    last_seen: int


def _status_keys(user_ids: list[str]) -> list[str]:
    return [f"online:{uid}" for uid in user_ids]


def _statuses(user_ids: list[str], raws: list[str | bytes | None]) -> dict[str, UserStatus]:
    return {uid: _decode(uid, raw) for uid, raw in zip(user_ids, raws, strict=True)}


def read_statuses(user_ids: list[str]) -> dict[str, UserStatus]:
    """One ``MGET`` for all ids; unknown or expired users are ``offline``.

    The REST side's presence read (sync); :func:`aread_statuses` is the same
    read for async callers (the notifier's ``GetUsersStatus``).
    """
    if not user_ids:
        return {}
    return _statuses(user_ids, kv.sync_client().mget(_status_keys(user_ids)))


async def aread_statuses(user_ids: list[str]) -> dict[str, UserStatus]:
    """:func:`read_statuses` for async callers."""
    if not user_ids:
        return {}
    return _statuses(user_ids, await kv.async_client().mget(_status_keys(user_ids)))


# The users (KEYS: their connection sets) with a live connection outside the
# ARGV connection ids; their indexes, from 1.
_ELSEWHERE = kv.register_script("""
local here = {}
for _, cid in ipairs(ARGV) do here[cid] = true end
local out = {}
for j = 1, #KEYS do
  for _, cid in ipairs(redis.call('SMEMBERS', KEYS[j])) do
    if not here[cid] then
      out[#out + 1] = j
      break
    end
  end
end
return out
""")


async def connected_elsewhere(user_ids: Sequence[str], covered: Iterable[str]) -> set[str]:
    """The users among ``user_ids`` with a live connection whose id is not in ``covered`` (one round trip)."""
    if not user_ids:
        return set()
    found = await _ELSEWHERE([connections_key(uid) for uid in user_ids], sorted(covered))
    return {user_ids[int(j) - 1] for j in found}


async def live_connection_counts(user_ids: list[str]) -> dict[str, int]:
    client = kv.async_client()
    async with client.pipeline(transaction=False) as pipe:
        for uid in user_ids:
            pipe.scard(connections_key(uid))
        counts = await pipe.execute()
    return {uid: int(n) for uid, n in zip(user_ids, counts, strict=True)}


def _decode(user_id: str, raw: str | bytes | None) -> UserStatus:
    if not raw:
        return UserStatus(user_id, "offline", 0)
    try:
        data = json.loads(raw)
        return UserStatus(user_id, str(data.get("status") or "online"), int(data.get("last_seen") or 0))
    except (ValueError, TypeError, AttributeError):
        return UserStatus(user_id, "offline", 0)
