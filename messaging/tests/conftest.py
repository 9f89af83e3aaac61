from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from messaging.batching import close_batcher
from notifier.client import close_async_notifier


@pytest.fixture(autouse=True)
async def _close_send_path() -> AsyncIterator[None]:
    """The send path's pool and gRPC channel belong to the test's event loop: close them with it."""
    yield
    await close_batcher()
    await close_async_notifier()
