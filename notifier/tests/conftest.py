from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest

from messaging.tests.conftest import _close_send_path  # noqa: F401 - autouse fixture
from notifier.server import create_server, mark_serving


class ServerThread:
    """The real grpc.aio notifier on 127.0.0.1:<random port>, in its own loop/thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.port = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._start())
        self.ready.set()
        self.loop.run_forever()

    async def _start(self) -> None:
        self.server, self.health, self.port = create_server("127.0.0.1:0")
        await self.server.start()
        await mark_serving(self.health, True)

    def start(self) -> ServerThread:
        self.thread.start()
        assert self.ready.wait(10)
        return self

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(0), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture
def notifier_server() -> Iterator[ServerThread]:
    server = ServerThread().start()
    yield server
    server.stop()
