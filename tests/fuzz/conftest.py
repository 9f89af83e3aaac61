"""Fixtures of the fuzz tests: one e2e stack (api, gateway and notifier as real
processes over the test database and the test Redis) for the whole package."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import Stack, _start_stack
from tests.e2e.procs import stop_all


@pytest.fixture(scope="package")
def fuzz_stack(django_db_setup: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = _start_stack(tmp_path_factory.mktemp("fuzz-stack"))
    yield stack
    stop_all(stack.gateway, stack.api, stack.notifier)
