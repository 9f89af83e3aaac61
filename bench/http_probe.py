"""Probe a served NeonChat's HTTP limits as an anonymous client would (docs/reliability.md, security).

Starts ``manage.py serve`` in embedded mode from a checkout (this one by default,
or ``--root`` of another, e.g. the previous version exported with ``git archive``)
and measures: the time to refuse a 100 MB header line, the server's RSS after
three such requests in parallel, what a 2 MB header gets, how long a request
that stops half-way survives, and how many of N half-sent requests are still
open after the read timeout.

    .venv/bin/python -m bench.http_probe [--root DIR] [--sockets 500] [--wait 15]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.ports import free_port

ROOT = Path(__file__).resolve().parents[1]
HEAD = b"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def status_of(answer: bytes) -> str:
    return answer.split(b"\r\n", 1)[0].decode(errors="replace") if answer else "closed without an answer"


def read_answer(sock: socket.socket, timeout: float) -> bytes:
    sock.settimeout(timeout)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
            if b"\r\n\r\n" in data and len(data) > 200:
                break
    except (ConnectionResetError, TimeoutError):
        pass
    return data


def big_header(port: int, size: int) -> tuple[float, str]:
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=120) as sock:
        chunk = b"a" * 65536
        try:
            sock.sendall(HEAD + b"X-Big: ")
            for _ in range(size // len(chunk)):
                sock.sendall(chunk)
            sock.sendall(b"\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = read_answer(sock, 120)
    return time.monotonic() - started, status_of(answer)


def survives(port: int, limit: float) -> tuple[float, str]:
    """Seconds a connection that sent half a request head stays open (capped at ``limit``)."""
    with socket.create_connection(("127.0.0.1", port), timeout=limit) as sock:
        started = time.monotonic()
        sock.sendall(HEAD)
        answer = read_answer(sock, limit)
        return time.monotonic() - started, status_of(answer)


def still_open(port: int, count: int, wait: float) -> int:
    socks = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sock.sendall(HEAD)
        socks.append(sock)
    time.sleep(wait)
    alive = 0
    for sock in socks:
        sock.setblocking(False)
        try:
            sock.recv(1)  # an answer (408) or the end of the stream: refused
        except BlockingIOError:
            alive += 1  # nothing to read and not closed: still held open
        except OSError:
            pass
        sock.close()
    return alive


def run(root: Path, sockets: int, wait: float) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="http-probe-"))
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "NOTIFIER_ADDR")}
    env |= {"SQLITE_PATH": str(work / "db.sqlite3"), "LOG_LEVEL": "error"}
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=root, env=env, check=True)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--port", str(port)],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        time.sleep(1)
        result: dict[str, Any] = {"rss_start_mb": round(rss_mb(server.pid))}
        seconds, answer = big_header(port, 100 * 1024 * 1024)
        result["header_100mb"] = {"seconds": round(seconds, 3), "answer": answer}
        result["header_2mb"] = {"answer": big_header(port, 2 * 1024 * 1024)[1]}
        threads = [threading.Thread(target=big_header, args=(port, 100 * 1024 * 1024)) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        time.sleep(2)
        result["rss_after_three_100mb_mb"] = round(rss_mb(server.pid))
        seconds, answer = survives(port, 60)
        result["half_request_survives"] = {"seconds": round(seconds, 1), "answer": answer, "cap_seconds": 60}
        result[f"of_{sockets}_half_requests_open_after_{wait:.0f}s"] = still_open(port, sockets, wait)
        return result
    finally:
        server.terminate()
        server.wait(20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=ROOT)
    parser.add_argument("--sockets", type=int, default=500)
    parser.add_argument("--wait", type=float, default=15.0)
    args = parser.parse_args()
    print(json.dumps(run(args.root, args.sockets, args.wait), indent=2))


if __name__ == "__main__":
    main()
