"""The collector's policy of serving processes: startup objects are frozen once the server listens."""

from __future__ import annotations

import asyncio
import gc
import socket
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from neonchat.gcpolicy import freeze_startup_objects
from neonchat.management.commands.serve import DrainingServer


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    try:
        yield
    finally:
        gc.unfreeze()  # the rest of the test run collects as usual


@pytest.mark.usefixtures("unfrozen")
def test_objects_alive_at_startup_are_left_out_of_later_collections() -> None:
    walked_before = len(gc.get_objects())  # what a full collection walks
    freeze_startup_objects()
    assert gc.get_freeze_count() >= walked_before // 2  # Django, DRF, the apps: already loaded here
    assert len(gc.get_objects()) < walked_before // 10


async def _ok(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


class _Listening(DrainingServer):
    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.listening = asyncio.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.listening.set()


@pytest.mark.asyncio
@pytest.mark.usefixtures("unfrozen")
async def test_a_server_freezes_them_once_its_application_is_loaded_and_listening() -> None:
    server = _Listening(uvicorn.Config(_ok, host="127.0.0.1", port=0, lifespan="off", log_level="warning"))
    serving = asyncio.create_task(server.serve())
    try:
        await asyncio.wait_for(server.listening.wait(), 10)
        assert gc.get_freeze_count() > 0
    finally:
        server.should_exit = True
        await asyncio.wait_for(serving, 10)
