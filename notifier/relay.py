"""Embedded mode: ``manage.py broadcast`` reaches the sockets through the server.

In embedded mode the WebSockets, the in-memory channel layer and the presence
store all live inside the one ``make run`` process; a management command is
another process and cannot publish to them. So the command relays: it POSTs
the broadcast to the running server's ``/internal/broadcast``, which calls the
same :func:`notifier.services.system_broadcast` as the admin's action, in the
server's process, and answers how many connected users it reached.

The endpoint is served in embedded mode only and takes a key derived from
``SECRET_KEY``, which the server and the command share (the generated secret
beside the SQLite file, or the environment).
"""

from __future__ import annotations

import hashlib
import hmac

import httpx
from django.conf import settings

from neonchat.errors import ApplicationError, ServiceUnavailable

HEADER = "X-Neonchat-Relay-Key"
PATH = "/internal/broadcast"


def relay_key() -> str:
    return hashlib.sha256(b"neonchat-broadcast-relay:" + settings.SECRET_KEY.encode()).hexdigest()


def valid_key(presented: str) -> bool:
    return hmac.compare_digest(presented.encode(), relay_key().encode())


def relay_broadcast(url: str, *, text: str, user_ids: list[str]) -> int:
    """Ask the embedded server at ``url`` to broadcast; how many connected users it reached."""
    try:
        reply = httpx.post(
            url.rstrip("/") + PATH, json={"text": text, "user_ids": user_ids}, headers={HEADER: relay_key()}, timeout=10
        )
    except httpx.HTTPError as error:
        raise ServiceUnavailable(
            f"no NeonChat server answers at {url} ({error.__class__.__name__}): start it with make run, or give "
            "--url or PORT; for make stack, run this command with the stack's DATABASE_URL, REDIS_URL, NOTIFIER_ADDR"
        ) from None
    if reply.status_code != 200:
        try:
            detail = reply.json()["error"]
        except (ValueError, KeyError, TypeError):
            raise ServiceUnavailable(f"{url} answered {reply.status_code}: is it an embedded NeonChat?") from None
        raise ApplicationError(str(detail.get("message", "")), code=str(detail.get("code", "error")))
    return int(reply.json()["delivered"])
