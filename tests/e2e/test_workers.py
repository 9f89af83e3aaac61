"""``serve --role api`` with ``API_WORKERS=2``: two worker processes serve, the metrics
are the sum over both, SIGTERM drains every worker and exits 0; embedded mode stays one process."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from prometheus_client.multiprocess import MultiProcessCollector

from tests.e2e.conftest import Stack, open_chat, register
from tests.e2e.procs import ROOT, Proc, base_env, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

LIVE_VIEW = "health-live"
DRAIN = 1.5


def _children(pid: int) -> set[int]:
    """The worker processes of ``pid`` (multiprocessing's resource tracker left out)."""
    found = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
            if b"spawn_main" in cmdline:
                found.add(int(child))
    return found


def _live_requests_by_pid(directory: Path) -> dict[int, float]:
    """Each worker's own count of ``/health/live`` requests, from its file in the multiprocess directory."""
    counts: dict[int, float] = {}
    for path in directory.glob("counter_*.db"):
        pid = int(path.stem.split("_")[1])
        for metric in MultiProcessCollector.merge([str(path)], accumulate=False):
            for sample in metric.samples:
                if sample.name.endswith("_by_view_transport_method_total") and sample.labels["view"] == LIVE_VIEW:
                    counts[pid] = counts.get(pid, 0.0) + sample.value
    return counts


@pytest.fixture
def api_workers(shared_stack: Stack, tmp_path: Path) -> Iterator[tuple[Proc, Path]]:
    """An api with two workers over the test stack's database, Redis and notifier."""
    metrics_dir = tmp_path / "metrics"
    env = {
        **shared_stack.env,
        "API_WORKERS": "2",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        "SHUTDOWN_DRAIN": f"{DRAIN}",  # long enough for a few readiness probes on a busy box
    }
    port = free_port()
    proc = Proc("api-workers", ["serve", "--port", str(port), "--role", "api"], env, port).start(tmp_path)
    yield proc, metrics_dir
    proc.stop()


def _wait_workers(proc: Proc, count: int, timeout: float = 30) -> set[int]:
    assert proc.popen is not None
    deadline = time.monotonic() + timeout
    while len(workers := _children(proc.popen.pid)) < count and time.monotonic() < deadline:
        time.sleep(0.1)
    return workers


def _served_by_each(proc: Proc, metrics_dir: Path, workers: set[int], timeout: float = 60) -> dict[int, float]:
    """Requests on fresh connections until each worker has answered some (the kernel picks the acceptor)."""
    deadline = time.monotonic() + timeout
    sent = sum(_live_requests_by_pid(metrics_dir).values())  # Proc.start's readiness probes
    while time.monotonic() < deadline:
        for _ in range(20):
            assert httpx.get(f"{proc.url}/health/live", timeout=10).status_code == 200
            sent += 1
        counts = _live_requests_by_pid(metrics_dir)
        if set(counts) == workers:
            break
    assert sum(counts.values()) == sent
    return counts


def test_two_worker_pids_serve_and_metrics_sum_over_both(api_workers: tuple[Proc, Path]) -> None:
    proc, metrics_dir = api_workers
    workers = _wait_workers(proc, 2)
    assert len(workers) == 2
    counts = _served_by_each(proc, metrics_dir, workers)
    assert set(counts) == workers and all(value > 0 for value in counts.values()), counts
    # /metrics from whichever worker answers counts the requests of both.
    text = httpx.get(f"{proc.url}/metrics", timeout=10).text
    line = next(
        line
        for line in text.splitlines()
        if line.startswith("django_http_requests_total_by_view_transport_method_total") and LIVE_VIEW in line
    )
    assert float(line.rsplit(" ", 1)[1]) == sum(counts.values())


def _half_sent_request(port: int) -> tuple[socket.socket, bytes]:
    body = json.dumps({"username": f"late{uuid.uuid4().hex[:8]}", "password": "correct-horse-battery"}).encode()
    head = (
        f"POST /api/v1/auth/register HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(head + body[:10])
    return sock, body[10:]


def test_sigterm_drains_every_worker_then_exits_0(api_workers: tuple[Proc, Path]) -> None:
    proc, _ = api_workers
    workers = _wait_workers(proc, 2)
    assert len(workers) == 2
    in_flight = [_half_sent_request(proc.port) for _ in range(6)]  # some on each worker, most likely
    time.sleep(0.2)
    proc.signal(signal.SIGTERM)
    # Readiness is 503 from every worker at once (new connections: either may answer), before the listener closes.
    assert [httpx.get(f"{proc.url}/health/ready", timeout=5).status_code for _ in range(4)] == [503] * 4
    time.sleep(DRAIN + 0.5)  # past the drain window: no worker listens, nor the parent
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{proc.url}/health/live", timeout=2)
    for sock, rest in in_flight:
        with sock:
            sock.sendall(rest)
            reply = b""
            while chunk := sock.recv(65536):
                reply += chunk
        assert reply.startswith(b"HTTP/1.1 201"), reply[:200]
    assert proc.wait(20) == 0
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers)


def test_workers_of_a_killed_supervisor_go_with_it_and_free_the_port(api_workers: tuple[Proc, Path]) -> None:
    proc, _ = api_workers
    workers = _wait_workers(proc, 2)
    assert len(workers) == 2
    proc.signal(signal.SIGKILL)  # as supervisord's last resort, or a chaos test, does
    assert proc.wait(5) == -signal.SIGKILL
    deadline = time.monotonic() + 15
    while any(Path(f"/proc/{pid}").exists() for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers), "a worker outlived its supervisor"
    with socket.socket() as sock:  # the restarted api can bind the port again
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", proc.port))


def test_embedded_mode_stays_one_process(tmp_path: Path) -> None:
    env = base_env(SQLITE_PATH=str(tmp_path / "embedded.sqlite3"), API_WORKERS="2")
    for name in ("DATABASE_URL", "REDIS_URL", "NOTIFIER_ADDR", "APP_ENV", "CHANNEL_LAYER_PREFIX"):
        env.pop(name, None)
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    port = free_port()
    proc = Proc("embedded", ["serve", "--port", str(port), "--role", "api"], env, port).start(tmp_path)
    try:
        assert proc.popen is not None
        assert _children(proc.popen.pid) == set()
        assert httpx.get(f"{proc.url}/health/ready", timeout=5).status_code == 200
    finally:
        proc.stop()
    assert "workers" not in proc.output()


def _worker_holding(port: int, workers: set[int]) -> dict[int, int]:
    """How many established connections on ``port`` each worker holds (/proc/net/tcp against each fd)."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port and fields[3] == "01":  # local port, ESTABLISHED
            inodes.add(f"socket:[{fields[9]}]")
    held = {}
    for pid in workers:
        fds = Path(f"/proc/{pid}/fd")
        held[pid] = sum(1 for fd in fds.iterdir() if str(fd.readlink()) in inodes)
    return held


@pytest.fixture
def gateway_workers(shared_stack: Stack, tmp_path: Path) -> Iterator[Proc]:
    """A gateway with two workers on one port, over the test stack's database, Redis and notifier."""
    env = {**shared_stack.env, "GATEWAY_WORKERS": "2", "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics")}
    port = free_port()
    proc = Proc("gateway-workers", ["serve", "--port", str(port), "--role", "gateway"], env, port).start(tmp_path)
    yield proc
    proc.stop()


async def test_gateway_workers_share_a_port_and_deliver_across_each_other(
    shared_stack: Stack, gateway_workers: Proc
) -> None:
    """Each worker is a gateway of its own (event loop, send path); messages between
    sockets held by different workers travel through the notifier and Redis as between
    the gateways of make cluster."""
    workers = _wait_workers(gateway_workers, 2)
    assert len(workers) == 2
    pairs = [(register(shared_stack.api.url), register(shared_stack.api.url)) for _ in range(12)]
    async with contextlib.AsyncExitStack() as sockets:
        links = []
        for a, b in pairs:
            wa = await sockets.enter_async_context(websockets.connect(f"{gateway_workers.ws}?token={a.token}"))
            wb = await sockets.enter_async_context(websockets.connect(f"{gateway_workers.ws}?token={b.token}"))
            links.append((wa, wb, open_chat(shared_stack.api.url, a, b)))
        held = _worker_holding(gateway_workers.port, workers)
        assert all(count > 0 for count in held.values()), held  # the kernel spread them (2^-23 it did not)
        for wa, wb, chat_id in links:
            request_id = str(uuid.uuid4())
            await wa.send(json.dumps({"type": "message", "chat_id": chat_id, "text": "hi", "request_id": request_id}))
            ack = await _next_of(wa, "message_sent")
            assert ack["request_id"] == request_id
            assert (await _next_of(wb, "new_message"))["message"]["id"] == ack["message"]["id"]


async def _next_of(ws: Any, wanted: str, timeout: float = 10) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            frame = json.loads(await ws.recv())
            if frame["type"] == wanted:
                return dict(frame)
