"""Rate limits shared by every process through the key-value store.

REST uses fixed one-minute windows (``INCR`` + ``EXPIRE`` in one MULTI, so it
is atomic under concurrency and across processes); for a Bearer request the
per-user hit is counted by the token check's script, in the same round trip as
the revocation check (``accounts.selectors.bearer_principal``). WebSocket sends use a
token bucket in a Lua script (rate per second, burst twice that).
"""

from __future__ import annotations

import time
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

    def idents(self, request: Request) -> list[str]:
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

    def idents(self, request: Request) -> list[str]:
        idents = [f"ip:{client_ip(request)}"]
        data = request.data if isinstance(request.data, dict) else {}
        username = data.get("username")
        if isinstance(username, str) and username:
            idents.append(f"name:{username.lower()[:64]}")
        return idents


_BUCKET_SCRIPT = kv.LuaScript("""
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or burst
local ts = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', tokens, 'ts', now)
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 1)
return allowed
""")


async def take_token(scope: str, ident: str, rate: float) -> bool:
    """Token bucket (``rate``/s, burst ``2 * rate``) shared by every gateway.

    Fails open like the REST limit: while the store is unreachable, sending
    (which PostgreSQL guarantees) keeps working.
    """
    try:
        allowed = await _BUCKET_SCRIPT([f"bucket:{scope}:{ident}"], [rate, 2 * rate, time.time()])
    except kv.STORE_ERRORS:
        return True
    return bool(int(allowed))
