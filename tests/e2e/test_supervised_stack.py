"""``make stack`` under supervision, as a user runs it: SIGKILL each process in
turn; the others keep serving and the dead one is back within RECOVERY_LIMIT
seconds (issue: one process dying never takes the others down).

* notifier: messages are still acknowledged and stored, the api reports
  ``degraded``, then ``ready`` and live delivery again;
* gateway: clients reconnect and recover what they missed from history;
* api: back, while chatting over the gateway goes on;
* SIGTERM to the runner: api and gateway first, the notifier last, every
  process exits 0, and so does ``make stack``.

Each recovery time is printed (``-s``); docs/reliability.md lists them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import websockets
from django.conf import settings

from tests.e2e.conftest import Account, _test_database_url, history_after, open_chat, post_message, register
from tests.e2e.procs import free_port
from tests.e2e.supervised import Runner, drop_database, runner_env, wait_until
from tests.e2e.test_stack import arrives, next_of

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

# End to end, from SIGKILL: mostly the new process's start-up (about 2 s of CPU):
# 2.2-3.1 s measured on a quiet 2-core box (printed by each test, listed in
# docs/reliability.md), 4-6.6 s with other heavy work on it. The bound leaves
# room for a busy CI machine; SUPERVISED_RECOVERY_LIMIT=3 checks the quiet figure.
RECOVERY_LIMIT = float(os.environ.get("SUPERVISED_RECOVERY_LIMIT", "8"))
# supervisord's own share, the dead process started again: 0.05-0.3 s measured.
RESPAWN_LIMIT = float(os.environ.get("SUPERVISED_RESPAWN_LIMIT", "2.5"))


@dataclass
class Stack:
    runner: Runner
    api: str
    ws: str
    database_url: str


@pytest.fixture(scope="module")
def supervised(django_db_setup: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql" or not settings.REDIS_URL:
        pytest.skip("make stack needs DATABASE_URL (PostgreSQL) and REDIS_URL")
    api_port, gw_port, nt_port = free_port(), free_port(), free_port()
    database_url = f"{_test_database_url()}_stack"  # created and migrated by make stack itself
    env = runner_env(
        database_url,
        settings.REDIS_URL,
        f"neonchat-supervised-{uuid.uuid4().hex[:8]}",
        API_PORT=str(api_port),
        GATEWAY_PORT=str(gw_port),
        NOTIFIER_LISTEN=f"127.0.0.1:{nt_port}",
        NOTIFIER_ADDR=f"127.0.0.1:{nt_port}",
    )
    runner = Runner("stack", env, tmp_path_factory.mktemp("stack") / "run").start("neonchat stack: api")
    try:
        yield Stack(runner, f"http://127.0.0.1:{api_port}", f"ws://127.0.0.1:{gw_port}/ws", database_url)
    finally:
        runner.stop()
        drop_database(database_url)


def report(what: str, seconds: float) -> None:
    print(f"\nsupervised stack: {what}: {seconds:.2f} s")


async def send(ws: Any, chat_id: str, text: str) -> dict[str, Any]:
    request_id = str(uuid.uuid4())
    await ws.send(json.dumps({"type": "message", "chat_id": chat_id, "text": text, "request_id": request_id}))
    while True:
        ack = await next_of(ws, "message_sent", timeout=10)
        if ack["request_id"] == request_id:
            return dict(ack["message"])


def people(api: str) -> tuple[Account, Account, str]:
    a, b = register(api), register(api)
    return a, b, open_chat(api, a, b)


class ReadinessLog:
    """Polls ``/health/ready`` in the background: (seconds since start, status)."""

    def __init__(self, url: str, started: float) -> None:
        self.url, self.started = url, started
        self.samples: list[tuple[float, str]] = []
        self._task = asyncio.create_task(self._poll())

    async def _poll(self) -> None:
        async with httpx.AsyncClient(timeout=1) as client:
            while True:
                try:
                    status = (await client.get(f"{self.url}/health/ready")).json()["status"]
                except (httpx.HTTPError, ValueError, KeyError):
                    status = "down"
                self.samples.append((time.monotonic() - self.started, str(status)))
                await asyncio.sleep(0.05)

    def first(self, status: str, after: float = 0.0) -> float | None:
        return next((t for t, s in self.samples if s == status and t >= after), None)

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


async def test_notifier_killed_messages_acked_api_degraded_then_ready_and_delivering(supervised: Stack) -> None:
    """The gateway serves its own sockets itself: a chat on it stays live while the
    notifier is down. Live delivery "again" is a send through the api (which has no
    sockets: only the notifier can deliver it) reaching the socket."""
    a, b, chat_id = people(supervised.api)
    acked: list[dict[str, Any]] = []
    async with (
        websockets.connect(f"{supervised.ws}?token={a.token}") as wa,
        websockets.connect(f"{supervised.ws}?token={b.token}") as wb,
    ):
        acked.append(post_message(supervised.api, a, chat_id, "before, through the api"))
        assert (await next_of(wb, "new_message"))["message"]["id"] == acked[-1]["id"]
        killed = time.monotonic()
        readiness = ReadinessLog(supervised.api, killed)
        old, respawn = await asyncio.to_thread(supervised.runner.kill, "notifier")
        for i in range(3):  # stored, acknowledged and, on this gateway, delivered while the notifier is down
            acked.append(await send(wa, chat_id, f"while down {i}"))
            assert (await next_of(wb, "new_message"))["message"]["id"] == acked[-1]["id"]
        delivered_at = None
        while delivered_at is None and time.monotonic() - readiness.started < 20:
            acked.append(await asyncio.to_thread(post_message, supervised.api, a, chat_id, "after, through the api"))
            if await arrives(wb, acked[-1]["id"], timeout=0.25):
                delivered_at = time.monotonic() - readiness.started
        await asyncio.to_thread(wait_until, lambda: readiness.first("ready", 0.1) is not None, 20)
        await readiness.stop()
    assert supervised.runner.restarted("notifier", old)
    degraded, ready = readiness.first("degraded"), readiness.first("ready", after=readiness.first("degraded") or 0)
    assert degraded is not None, f"the api never reported degraded: {readiness.samples[:10]}"
    assert "down" not in {s for _, s in readiness.samples}, "the api stopped answering"
    assert ready is not None and delivered_at is not None
    report("notifier SIGKILL -> started again", respawn)
    report("notifier SIGKILL -> api ready again", ready)
    report("notifier SIGKILL -> live delivery again", delivered_at)
    assert respawn <= RESPAWN_LIMIT
    assert max(ready, delivered_at) <= RECOVERY_LIMIT, (ready, delivered_at)
    stored = history_after(supervised.api, b, chat_id)
    assert [m["id"] for m in stored] == [m["id"] for m in acked]
    assert [m["seq"] for m in stored] == list(range(1, len(acked) + 1))


async def connect_retrying(url: str, timeout: float) -> tuple[Any, float]:
    """Reconnect like a client does: try every 50 ms; the socket and the seconds it took."""
    started = time.monotonic()
    while True:
        try:
            return await websockets.connect(url, open_timeout=2), time.monotonic() - started
        except (OSError, websockets.InvalidHandshake, TimeoutError):
            if time.monotonic() - started > timeout:
                raise
            await asyncio.sleep(0.05)


async def test_gateway_killed_clients_reconnect_and_recover_from_history(supervised: Stack) -> None:
    a, b, chat_id = people(supervised.api)
    headers = {"Authorization": f"Bearer {a.token}"}
    wa = await websockets.connect(f"{supervised.ws}?token={a.token}")
    wb = await websockets.connect(f"{supervised.ws}?token={b.token}")
    await send(wa, chat_id, "before")
    seen = await next_of(wb, "new_message", timeout=10)
    killed = time.monotonic()
    old, respawn = await asyncio.to_thread(supervised.runner.kill, "front:gateway")
    with pytest.raises(websockets.ConnectionClosed):
        async with asyncio.timeout(10):
            while True:
                await wb.recv()
    missed = []
    async with httpx.AsyncClient(base_url=supervised.api, headers=headers, timeout=10) as rest:
        for i in range(3):  # the api keeps serving while the gateway is down
            reply = await rest.post(
                f"/api/v1/chats/{chat_id}/messages", json={"text": f"missed {i}", "request_id": str(uuid.uuid4())}
            )
            assert reply.status_code == 201, reply.text
            missed.append(reply.json())
    wb2, _ = await connect_retrying(f"{supervised.ws}?token={b.token}", timeout=20)
    back = time.monotonic() - killed
    wa2, _ = await connect_retrying(f"{supervised.ws}?token={a.token}", timeout=20)
    try:
        recovered = history_after(supervised.api, b, chat_id, after_id=seen["message"]["id"])
        assert [m["id"] for m in recovered] == [m["id"] for m in missed]
        live = await send(wa2, chat_id, "after the restart")
        assert (await next_of(wb2, "new_message", timeout=10))["message"]["id"] == live["id"]
    finally:
        for ws in (wa, wb, wa2, wb2):
            await ws.close()
    assert supervised.runner.restarted("front:gateway", old)
    report("gateway SIGKILL -> started again", respawn)
    report("gateway SIGKILL -> a client reconnected", back)
    assert respawn <= RESPAWN_LIMIT
    assert back <= RECOVERY_LIMIT


async def test_api_killed_is_back_while_the_gateway_keeps_serving(supervised: Stack) -> None:
    a, b, chat_id = people(supervised.api)
    async with (
        websockets.connect(f"{supervised.ws}?token={a.token}") as wa,
        websockets.connect(f"{supervised.ws}?token={b.token}") as wb,
    ):
        killed = time.monotonic()
        old, respawn = await asyncio.to_thread(supervised.runner.kill, "front:api")
        sent = await send(wa, chat_id, "while the api is down")  # the gateway does not need it
        assert (await next_of(wb, "new_message"))["message"]["id"] == sent["id"]
        async with httpx.AsyncClient(timeout=0.5) as poll:  # one client: polling must not eat the CPU it waits for
            while True:
                with contextlib.suppress(httpx.HTTPError, ValueError, KeyError):
                    if (await poll.get(f"{supervised.api}/health/ready")).json()["status"] == "ready":
                        break
                assert time.monotonic() - killed < 20, "the api did not come back"
                await asyncio.sleep(0.05)
        back = time.monotonic()
    report("api SIGKILL -> started again", respawn)
    report("api SIGKILL -> ready again", back - killed)
    assert respawn <= RESPAWN_LIMIT
    assert supervised.runner.restarted("front:api", old)
    assert back - killed <= RECOVERY_LIMIT
    assert [m["id"] for m in history_after(supervised.api, b, chat_id)] == [sent["id"]]


def test_every_line_in_the_foreground_names_its_process(supervised: Stack) -> None:
    out = supervised.runner.output()
    for name in ("notifier", "api", "gateway"):
        assert re.search(rf"^{name} +\| neonchat {name} listening on ", out, re.M), out[-2000:]
    assert "neonchat stack: api http://127.0.0.1:" in out


async def test_sigterm_stops_front_then_notifier_every_process_exits_0(supervised: Stack) -> None:
    a, _, _ = people(supervised.api)
    pids = [supervised.runner.pid(name) for name in ("notifier", "front:api", "front:gateway")]
    async with websockets.connect(f"{supervised.ws}?token={a.token}") as wa:
        runner_exit = asyncio.create_task(asyncio.to_thread(supervised.runner.terminate))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            async with asyncio.timeout(20):
                while True:
                    await wa.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code in (1001, 1012)
        assert await runner_exit == 0
    log = (supervised.runner.run_dir / "supervisord.log").read_text()
    stopped = re.findall(r"stopped: (\w+) \(exit status (\d+)\)", log)
    assert [name for name, _ in stopped if name in ("api", "gateway", "notifier")][-1] == "notifier", stopped
    assert {name: code for name, code in stopped if name in ("api", "gateway", "notifier")} == {
        "api": "0",
        "gateway": "0",
        "notifier": "0",
    }, stopped
    alive = [pid for pid in pids if os.path.exists(f"/proc/{pid}")]  # noqa: ASYNC240 - a stat per pid
    assert not alive, f"still running: {alive}"
