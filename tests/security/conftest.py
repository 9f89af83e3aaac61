"""Fixtures of the security tests: one e2e stack (api, gateway and notifier as
real processes over the test database and the test Redis) for the package,
plus helpers to start extra processes on it with other settings."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import Stack, _start_stack
from tests.e2e.procs import Proc, free_port, stop_all


def start_extra(stack: Stack, name: str, role: str, **env: str) -> Proc:
    """One more api or gateway process on the stack's database, Redis and notifier."""
    port = free_port()
    args = ["serve", "--port", str(port), "--role", role]
    return Proc(name, args, {**stack.env, **env}, port).start(stack.log_dir)


@pytest.fixture(scope="package")
def sec_stack(django_db_setup: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = _start_stack(tmp_path_factory.mktemp("sec-stack"))
    yield stack
    stop_all(stack.gateway, stack.api, stack.notifier)
