"""HTTP limits of the server itself, over raw sockets against a real process
(neonchat/httpguard.py): oversized request heads get 431 at a small fixed
cost, requests (and WebSocket handshakes) not received within
``HTTP_REQUEST_TIMEOUT`` get 408, and the process stays small and responsive."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.procs import ROOT, Proc, base_env, free_port

pytestmark = [pytest.mark.e2e]

READ_TIMEOUT = 2.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proc]:
    """Embedded mode (as ``make run`` serves it) with a short read timeout."""
    tmp = tmp_path_factory.mktemp("http-limits")
    env = base_env(SQLITE_PATH=str(tmp / "db.sqlite3"), HTTP_REQUEST_TIMEOUT=f"{READ_TIMEOUT}s")
    for name in ("DATABASE_URL", "REDIS_URL", "NOTIFIER_ADDR", "APP_ENV", "CHANNEL_LAYER_PREFIX"):
        env.pop(name, None)
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    port = free_port()
    proc = Proc("limits", ["serve", "--port", str(port)], env, port).start(tmp)
    yield proc
    proc.stop()


def rss_mb(proc: Proc) -> float:
    assert proc.popen is not None
    for line in Path(f"/proc/{proc.popen.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def connect(proc: Proc) -> socket.socket:
    return socket.create_connection(("127.0.0.1", proc.port), timeout=10)


def read_reply(sock: socket.socket, timeout: float = 10) -> bytes:
    """Everything the server sends until it closes (a reset after its answer counts as a close)."""
    sock.settimeout(timeout)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    return data


def send_huge_header(proc: Proc, size: int) -> tuple[float, bytes]:
    """Stream a ``size``-byte header line; return (seconds until refused, the answer)."""
    started = time.monotonic()
    sock = connect(proc)
    answer = b""
    try:
        sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ")
        chunk = b"a" * 65536
        sent = 0
        while sent < size:
            try:
                sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(chunk)
        answer = read_reply(sock)
    finally:
        sock.close()
    return time.monotonic() - started, answer


def test_a_100_mb_header_is_refused_at_a_small_fixed_cost(server: Proc) -> None:
    before = rss_mb(server)
    elapsed, answer = send_huge_header(server, 100 * 1024 * 1024)
    assert elapsed < 2.0, elapsed
    assert answer == b"" or answer.startswith(b"HTTP/1.1 431 "), answer[:200]
    threads = [threading.Thread(target=send_huge_header, args=(server, 100 * 1024 * 1024)) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    grown = rss_mb(server) - before
    assert grown < 30, f"RSS grew by {grown:.0f} MB"
    assert httpx.get(f"{server.url}/health/live", timeout=5).status_code == 200


@pytest.mark.parametrize("size", [20 * 1024, 2 * 1024 * 1024])
def test_an_oversized_head_gets_431_in_the_error_shape(server: Proc, size: int) -> None:
    sock = connect(server)
    try:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * size + b"\r\n\r\n")
        answer = read_reply(sock)
    finally:
        sock.close()
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
    assert b'"code":"headers_too_large"' in answer


def test_a_normal_sized_head_is_served(server: Proc) -> None:
    reply = httpx.get(f"{server.url}/health/live", headers={"X-Fill": "a" * 8000}, timeout=5)
    assert reply.status_code == 200


@pytest.mark.parametrize(
    ("name", "first_bytes"),
    [
        ("nothing", b""),
        ("half a head", b"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n"),
        ("half a body", b"POST /api/v1/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{"),
        ("half a handshake", b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"),
    ],
)
def test_a_request_not_received_in_time_gets_408(server: Proc, name: str, first_bytes: bytes) -> None:
    sock = connect(server)
    try:
        started = time.monotonic()
        sock.sendall(first_bytes)
        answer = read_reply(sock, timeout=READ_TIMEOUT + 5)
        survived = time.monotonic() - started
    finally:
        sock.close()
    assert READ_TIMEOUT - 0.5 < survived < READ_TIMEOUT + 1.5, (name, survived)
    assert answer.startswith(b"HTTP/1.1 408 "), (name, answer[:200])


def test_a_trickled_head_is_cut_off_at_the_timeout(server: Proc) -> None:
    sock = connect(server)
    started = time.monotonic()
    closed_after = None
    try:
        for byte in b"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 200:
            try:
                sock.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                closed_after = time.monotonic() - started
                break
            time.sleep(0.1)
        answer = read_reply(sock, timeout=5)
    finally:
        sock.close()
    survived = closed_after or time.monotonic() - started
    assert survived < READ_TIMEOUT + 1.5, survived
    assert answer == b"" or answer.startswith(b"HTTP/1.1 408 "), answer[:200]


def test_keep_alive_requests_and_slow_answers_are_not_cut(server: Proc) -> None:
    """The timer bounds receiving a request, not the time between requests or to answer."""
    with httpx.Client(base_url=server.url, timeout=10) as client:
        assert client.get("/health/live").status_code == 200
        time.sleep(READ_TIMEOUT / 2)
        assert client.get("/health/live").status_code == 200
        time.sleep(READ_TIMEOUT / 2 + 0.3)
        assert client.get("/health/live").status_code == 200
