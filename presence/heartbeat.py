"""One task per gateway process keeps its connections' presence alive.

Instead of a timer per socket, the process registers its live connections
here; every ``WS_HEARTBEAT_INTERVAL`` it refreshes them all and runs the
reaper that announces users whose connections died with another gateway.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from django.conf import settings

from neonchat import kv
from presence import store

logger = logging.getLogger(__name__)

BATCH = 500

OfflineCallback = Callable[[str], Awaitable[None]]
OnlineCallback = Callable[[str], Awaitable[None]]


class HeartbeatRegistry:
    def __init__(self) -> None:
        self.connections: dict[str, str] = {}  # conn_id -> user_id
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.on_offline: OfflineCallback | None = None
        self.on_online: OnlineCallback | None = None

    def add(self, conn_id: str, user_id: str) -> None:
        self.connections[conn_id] = user_id
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done() or self._loop is not loop:
            self._loop = loop
            self._task = loop.create_task(self._run(), name="presence-heartbeat")

    def remove(self, conn_id: str) -> None:
        self.connections.pop(conn_id, None)

    async def beat_once(self) -> None:
        live = list(self.connections.items())
        for start in range(0, len(live), BATCH):  # one round trip per batch
            batch = live[start : start + BATCH]
            revived = await store.heartbeats([(uid, cid) for cid, uid in batch])
            for (_, user_id), came_back in zip(batch, revived, strict=True):
                if came_back and self.on_online:
                    await self.on_online(user_id)
        for user_id in await store.reap_expired():
            if self.on_offline:
                await self.on_offline(user_id)

    async def _run(self) -> None:
        interval = float(settings.WS_HEARTBEAT_INTERVAL)
        while True:
            await asyncio.sleep(interval)
            try:
                await self.beat_once()
            except kv.STORE_ERRORS as error:
                logger.warning("presence heartbeat failed: %r", error)
            except Exception:
                logger.exception("presence heartbeat crashed; retrying next interval")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None


registry = HeartbeatRegistry()
