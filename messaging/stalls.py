"""Write deadlines for WebSocket connections without a timer per frame.

A write to a client completes at once unless the server's buffer for that
socket is full (the client stopped reading); only then does it wait. A
connection is in the watch set while it has a write in progress, and one task
per event loop looks at that set once per tick: a connection that made no
write progress for ``WS_WRITE_TIMEOUT`` is ended (``Watched.stalled``). A
frame that goes out at once costs a set insert and removal, where an
``asyncio.timeout`` around every write scheduled and cancelled a timer.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from typing import Protocol

from django.conf import settings


class Watched(Protocol):
    write_waiting_since: float

    def stalled(self) -> None:
        """No write progress for ``WS_WRITE_TIMEOUT``: end the connection."""


class StallWatch:
    """The connections of one event loop with a write waiting."""

    def __init__(self) -> None:
        self.waiting: set[Watched] = set()
        self._task: asyncio.Task[None] | None = None

    def watch(self, conn: Watched) -> None:
        conn.write_waiting_since = time.monotonic()
        self.waiting.add(conn)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="ws-stall-watch")

    def unwatch(self, conn: Watched) -> None:
        self.waiting.discard(conn)

    async def _run(self) -> None:
        timeout = float(settings.WS_WRITE_TIMEOUT)
        tick = min(1.0, timeout / 4)
        while self.waiting:
            await asyncio.sleep(tick)
            deadline = time.monotonic() - timeout
            for conn in [c for c in self.waiting if c.write_waiting_since < deadline]:
                self.waiting.discard(conn)
                conn.stalled()


_watches: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, StallWatch] = weakref.WeakKeyDictionary()


def stall_watch() -> StallWatch:
    loop = asyncio.get_running_loop()
    watch = _watches.get(loop)
    if watch is None:
        watch = _watches[loop] = StallWatch()
    return watch
