"""Fixtures that run NeonChat as real processes: the three-process stack over
the test PostgreSQL database and the test Redis, and embedded mode."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.conf import settings

from tests.e2e.procs import ROOT, Proc, base_env, free_port


@dataclass
class Stack:
    api: Proc
    gateway: Proc
    notifier: Proc
    env: dict[str, str]
    log_dir: Path

    def restart_notifier(self) -> None:
        self.notifier = Proc("notifier", self.notifier.args, self.env, self.notifier.port, http=False).start(
            self.log_dir
        )


def _test_database_url() -> str:
    db = settings.DATABASES["default"]
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def _start_stack(log_dir: Path) -> Stack:
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql" or not settings.REDIS_URL:
        pytest.skip("stack mode needs DATABASE_URL (PostgreSQL) and REDIS_URL")
    notifier_port = free_port()
    env = base_env(
        DATABASE_URL=_test_database_url(),
        REDIS_URL=settings.REDIS_URL,
        CHANNEL_LAYER_PREFIX=settings.CHANNEL_LAYER_PREFIX,
        NOTIFIER_ADDR=f"127.0.0.1:{notifier_port}",
        NOTIFIER_LISTEN=f"127.0.0.1:{notifier_port}",
        NOTIFIER_METRICS_PORT="0",
        APP_ENV="test",
    )
    notifier = Proc("notifier", ["run_notifier"], env, notifier_port, http=False).start(log_dir)
    api_port, gw_port = free_port(), free_port()
    api = Proc("api", ["serve", "--port", str(api_port), "--role", "api"], env, api_port).start(log_dir)
    gateway = Proc("gateway", ["serve", "--port", str(gw_port), "--role", "gateway"], env, gw_port).start(log_dir)
    return Stack(api, gateway, notifier, env, log_dir)


def _stop_stack(stack: Stack) -> None:
    for proc in (stack.gateway, stack.api, stack.notifier):
        proc.stop()


@pytest.fixture
def stack(django_db_setup: Any, tmp_path: Path) -> Iterator[Stack]:
    """api, gateway and notifier as three processes, fresh for a test that breaks them."""
    stack = _start_stack(tmp_path)
    yield stack
    _stop_stack(stack)


@pytest.fixture(scope="module")
def shared_stack(django_db_setup: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The same, shared by the tests of a module that leave it intact."""
    stack = _start_stack(tmp_path_factory.mktemp("stack"))
    yield stack
    _stop_stack(stack)


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[Proc]:
    """Embedded mode as ``make run`` starts it: no services, SQLite file, one process."""
    env = base_env(SQLITE_PATH=str(tmp_path / "embedded.sqlite3"))
    for name in ("DATABASE_URL", "REDIS_URL", "NOTIFIER_ADDR", "APP_ENV", "CHANNEL_LAYER_PREFIX"):
        env.pop(name, None)
    migrate = [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"]
    subprocess.run(migrate, cwd=ROOT, env=env, check=True)
    port = free_port()
    proc = Proc("embedded", ["serve", "--port", str(port)], env, port).start(tmp_path)
    yield proc
    proc.stop()


@dataclass
class Account:
    id: str
    username: str
    token: str


def register(base_url: str) -> Account:
    name = f"e2e{uuid.uuid4().hex[:10]}"
    password = "correct-horse-battery"
    created = httpx.post(f"{base_url}/api/v1/auth/register", json={"username": name, "password": password}, timeout=10)
    assert created.status_code == 201, created.text
    login = httpx.post(f"{base_url}/api/v1/auth/login", json={"username": name, "password": password}, timeout=10)
    assert login.status_code == 200, login.text
    body = login.json()
    return Account(body["user"]["id"], name, body["token"])


def open_chat(base_url: str, me: Account, partner: Account) -> str:
    reply = httpx.post(
        f"{base_url}/api/v1/chats", json={"partner_id": partner.id}, headers={"Authorization": f"Bearer {me.token}"}
    )
    assert reply.status_code in (200, 201), reply.text
    return str(reply.json()["id"])


def post_message(base_url: str, who: Account, chat_id: str, text: str) -> dict[str, Any]:
    """A message sent through the api (REST), as stored."""
    reply = httpx.post(
        f"{base_url}/api/v1/chats/{chat_id}/messages",
        json={"text": text, "request_id": str(uuid.uuid4())},
        headers={"Authorization": f"Bearer {who.token}"},
        timeout=10,
    )
    assert reply.status_code == 201, reply.text
    return dict(reply.json())


def history_after(base_url: str, who: Account, chat_id: str, after_id: str | None = None) -> list[dict[str, Any]]:
    """Every message after ``after_id`` following pages (no cursor: the newest page)."""
    out: list[dict[str, Any]] = []
    headers = {"Authorization": f"Bearer {who.token}"}
    while True:
        params = {"limit": "200", **({"after_id": after_id} if after_id else {})}
        reply = httpx.get(f"{base_url}/api/v1/chats/{chat_id}/messages", params=params, headers=headers, timeout=10)
        assert reply.status_code == 200, reply.text
        page = reply.json()
        out.extend(page["messages"])
        if after_id is None or not page["has_next"]:
            return out
        after_id = page["messages"][-1]["id"]
