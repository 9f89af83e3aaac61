"""Rate limits shared by every process through the key-value store.

REST uses fixed one-minute windows (``INCR`` + ``EXPIRE`` in one MULTI, so it
is atomic under concurrency and across processes); for a Bearer request the
per-user hit is counted by the token check's script, in the same round trip as
the revocation check (``accounts.selectors.bearer_principal``). WebSocket sends use a
token bucket in a Lua script (rate per second, burst twice that).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from neonchat import kv

if TYPE_CHECKING:
    from rest_framework.views import APIView

WINDOW_SECONDS = 60

_FAIL_OPEN_ERRORS: tuple[type[Exception], ...] = (*kv.STORE_ERRORS, ValueError)


@dataclass(frozen=True, slots=True)
class WindowHit:
    """One counted hit: the window's count so far and when the window ends."""

    count: int
    resets_at: float

    def wait(self, limit: int) -> float:
        """0 if the hit is within ``limit``, else seconds until the window resets."""
        if self.count <= limit:
            return 0.0
        return max(1.0, self.resets_at - time.time())


def window_key(scope: str, ident: str, *, window: int = WINDOW_SECONDS) -> tuple[str, float]:
    """The counter key of the current fixed window, and when that window ends."""
    slot = int(time.time() // window)
    return f"ratelimit:{scope}:{ident}:{slot}", float((slot + 1) * window)


def hit_window(scope: str, ident: str, limit: int, *, window: int = WINDOW_SECONDS) -> float:
    """Count one hit; return 0 if allowed, else seconds until the window resets."""
    key, resets_at = window_key(scope, ident, window=window)
    pipe = kv.sync_client().pipeline(transaction=True)
    pipe.incr(key)
    pipe.expire(key, window + 1)
    count, _ = pipe.execute()
    return WindowHit(int(count), resets_at).wait(limit)


def user_ident(user_id: object) -> str:
    """The per-user counter's identity (scope ``user``)."""
    return f"u:{user_id}"


def record_counted_hit(request: Request, hit: WindowHit) -> None:
    """Note that this request's per-user hit was already counted (by the token check, in the same round trip)."""
    request._neonchat_user_hit = hit  # type: ignore[attr-defined]


def counted_hit(request: Request) -> WindowHit | None:
    return getattr(request, "_neonchat_user_hit", None)


def client_ip(request: Any) -> str:
    """The peer address; ``X-Forwarded-For`` only when the peer is a trusted proxy."""
    remote = str(request.META.get("REMOTE_ADDR") or "unknown")
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if forwarded and remote in settings.TRUSTED_PROXIES:
        # The right-most address not added by our own proxies is the client.
        for hop in reversed([h.strip() for h in forwarded.split(",") if h.strip()]):
            if hop not in settings.TRUSTED_PROXIES:
                return hop
    return remote


class _StoreThrottle(BaseThrottle):
    """A DRF throttle over :func:`hit_window`; fails open if the store is down."""

    scope = "user"
    _wait: float = 0.0

    def limit(self) -> int:
        return int(settings.RATE_LIMIT_PER_MINUTE)

    def idents(self, request: Request) -> Iterable[str]:
        raise NotImplementedError

    def allow_request(self, request: Request, view: APIView) -> bool:
        try:
            for ident in self.idents(request):
                wait = hit_window(self.scope, ident, self.limit())
                if wait:
                    self._wait = wait
                    return False
        except _FAIL_OPEN_ERRORS:
            # The limit fails open: an unreachable store must not take the API down.
            return True
        return True

    def wait(self) -> float | None:
        return self._wait


class UserRateThrottle(_StoreThrottle):
    """``RATE_LIMIT_PER_MINUTE`` requests a minute per user (anonymous: per IP)."""

    scope = "user"

    def allow_request(self, request: Request, view: APIView) -> bool:
        hit = counted_hit(request)
        if hit is None:
            return super().allow_request(request, view)
        self._wait = hit.wait(self.limit())
        return not self._wait

    def idents(self, request: Request) -> list[str]:
        user = getattr(request, "user", None)
        if user is not None and getattr(user, "is_authenticated", False):
            return [user_ident(user.pk)]
        return [f"ip:{client_ip(request)}"]


class LoginRateThrottle(_StoreThrottle):
    """``LOGIN_RATE_LIMIT_PER_MINUTE`` attempts a minute per username and per client IP."""

    scope = "login"

    def limit(self) -> int:
        return int(settings.LOGIN_RATE_LIMIT_PER_MINUTE)

    def idents(self, request: Request) -> Iterator[str]:
        # The address is counted before the body is parsed: a body that does not
        # parse (bad JSON, nested too deep) is refused with 400 and still counts.
        yield f"ip:{client_ip(request)}"
        data = request.data if isinstance(request.data, dict) else {}
        username = data.get("username")
        if isinstance(username, str) and username:
            yield f"name:{username.lower()[:64]}"


# Token buckets (rate per second, burst twice that), several in one call: for
# each key, take up to the wanted number of tokens and answer how many it got.
# One call per batch of sends, exactly what one call per send would grant.
_BUCKETS_SCRIPT = kv.register_script("""
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local granted = {}
for i, key in ipairs(KEYS) do
  local want = tonumber(ARGV[3 + i])
  local state = redis.call('HMGET', key, 'tokens', 'ts')
  local tokens = tonumber(state[1]) or burst
  local ts = tonumber(state[2]) or now
  tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
  local take = math.min(want, math.floor(tokens))
  redis.call('HSET', key, 'tokens', tokens - take, 'ts', now)
  redis.call('EXPIRE', key, math.ceil(burst / rate) + 1)
  granted[i] = take
end
return granted
""")


async def take_tokens(scope: str, wanted: dict[str, int], rate: float) -> dict[str, int]:
    """Per ident, how many of the ``wanted`` tokens its bucket grants (``rate``/s,
    burst ``2 * rate``, shared by every gateway), in one round trip.

    Fails open like the REST limit: while the store is unreachable, sending
    (which PostgreSQL guarantees) keeps working.
    """
    idents = list(wanted)
    keys = [f"bucket:{scope}:{ident}" for ident in idents]
    try:
        granted = await _BUCKETS_SCRIPT(keys, [rate, 2 * rate, time.time(), *(wanted[i] for i in idents)])
    except kv.STORE_ERRORS:
        return dict(wanted)
    return {ident: int(count) for ident, count in zip(idents, granted, strict=True)}


async def take_token(scope: str, ident: str, rate: float) -> bool:
    """One token of :func:`take_tokens`."""
    return (await take_tokens(scope, {ident: 1}, rate))[ident] == 1
