"""The write watch: a connection whose write made no progress for WS_WRITE_TIMEOUT is ended."""

from __future__ import annotations

import asyncio
import time

import pytest
from django.test import override_settings

from messaging.stalls import stall_watch

pytestmark = pytest.mark.asyncio


class Conn:
    def __init__(self) -> None:
        self.write_waiting_since = 0.0
        self.ended_at: float | None = None

    def stalled(self) -> None:
        self.ended_at = time.monotonic()


@override_settings(WS_WRITE_TIMEOUT=0.2)
async def test_only_a_write_without_progress_ends_its_connection() -> None:
    watch = stall_watch()
    stuck, progressing, finished = Conn(), Conn(), Conn()
    started = time.monotonic()
    for conn in (stuck, progressing, finished):
        watch.watch(conn)
    watch.unwatch(finished)  # its write went out
    for _ in range(8):  # progress every 0.05 s for 0.4 s
        await asyncio.sleep(0.05)
        progressing.write_waiting_since = time.monotonic()
    assert stuck.ended_at is not None and 0.2 <= stuck.ended_at - started < 0.4
    assert progressing.ended_at is None and finished.ended_at is None
    assert stuck not in watch.waiting
    watch.unwatch(progressing)
    await asyncio.sleep(0.1)  # the watch task ends once nothing waits
    assert watch._task is not None and watch._task.done()
