"""Minimal reproduction of the presence leak found by the chaos suite.

``python -m tests.chaos.repro_presence``: on a private stack (PRESENCE_TTL=3,
heartbeat 1 s), two ways a WebSocket consumer dies without ``disconnect()``:

1. *handshake abandoned*: the gateway is paused (SIGSTOP) while a client
   connects; the client gives up (open timeout) and closes; on SIGCONT the
   consumer registers the connection, then ``accept()`` raises
   ``ClientDisconnected``;
2. *store error in a frame* (fixed by commit 8e6c0a5, kept as a regression check):
   Redis restarts while a client is connected; its
   next ``message`` frame makes ``take_token`` raise ``ConnectionError``.

Either way the connection id stays in the heartbeat registry, so the user's
``online:{id}`` key is refreshed forever although they have no connection.
Exit status 1 if the leak shows.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
import tempfile
import uuid
from pathlib import Path

import redis.asyncio as aredis
from websockets.asyncio.client import connect

from tests.chaos.load import LoadDriver
from tests.chaos.supervisor import Supervisor

WAIT = 10.0  # > PRESENCE_TTL + a few heartbeats


async def _online(kv: aredis.Redis, user_id: str) -> bool:
    return bool(await kv.exists(f"online:{user_id}"))


async def abandoned_handshake(sup: Supervisor, kv: aredis.Redis, token: str, user_id: str) -> bool:
    sup.signal("gateway", signal.SIGSTOP)
    try:
        with contextlib.suppress(Exception):
            async with connect(f"{sup.ws_url}?token={token}", open_timeout=1, proxy=None):
                pass
    finally:
        sup.signal("gateway", signal.SIGCONT)
    await asyncio.sleep(WAIT)
    return await _online(kv, user_id)


async def store_error_in_frame(sup: Supervisor, kv: aredis.Redis, token: str, user_id: str, chat_id: str) -> bool:
    async with connect(f"{sup.ws_url}?token={token}", proxy=None) as ws:
        await asyncio.to_thread(sup.redis.restart, 0.5)
        frame = {"type": "message", "chat_id": chat_id, "text": "hi", "request_id": str(uuid.uuid4())}
        with contextlib.suppress(Exception):
            await ws.send(json.dumps(frame))
            await asyncio.wait_for(ws.recv(), 5)
    await asyncio.sleep(WAIT)
    return await _online(aredis.Redis.from_url(sup.redis.url), user_id)


async def main() -> int:
    logs = tempfile.TemporaryDirectory(prefix="neonchat-repro-")
    sup = Supervisor(Path(logs.name))
    try:
        await asyncio.to_thread(sup.start)
        driver = LoadDriver(sup.url("api"), sup.ws_url, users=4, rate=1)
        await driver.setup()
        kv = aredis.Redis.from_url(sup.redis.url)
        first, second = driver.clients[0], driver.clients[2]
        leaked_1 = await abandoned_handshake(sup, kv, first.token, first.user_id)
        print(f"1. abandoned handshake: user still online {WAIT:.0f}s later with no connection: {leaked_1}")
        leaked_2 = await store_error_in_frame(sup, kv, second.token, second.user_id, second.chat_id)
        print(f"2. Redis error in a frame: user still online {WAIT:.0f}s later with no connection: {leaked_2}")
        await driver.aclose()
        return 1 if leaked_1 or leaked_2 else 0
    finally:
        await asyncio.to_thread(sup.close)
        logs.cleanup()


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
