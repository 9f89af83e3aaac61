"""Real NeonChat processes for end-to-end tests: start, wait ready, signal, collect."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.ports import free_port

ROOT = Path(__file__).resolve().parents[2]


__all__ = ["free_port"]  # re-exported: the tests pick ports like the benchmarks


def wait_port(port: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {port}")


@dataclass
class Proc:
    name: str
    args: list[str]
    env: dict[str, str]
    port: int
    http: bool = True
    popen: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    log: Path | None = None

    def start(self, log_dir: Path) -> Proc:
        self.log = log_dir / f"{self.name}-{self.port}.log"
        handle = self.log.open("ab")
        self.popen = subprocess.Popen(
            [sys.executable, "manage.py", *self.args], cwd=ROOT, env=self.env, stdout=handle, stderr=subprocess.STDOUT
        )
        wait_port(self.port)
        if self.http:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"http://127.0.0.1:{self.port}/health/live", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.05)
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def signal(self, sig: int) -> None:
        assert self.popen is not None
        self.popen.send_signal(sig)

    def wait(self, timeout: float = 30) -> int:
        assert self.popen is not None
        return self.popen.wait(timeout)

    def stop(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log else ""


def base_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "COV_CORE"))}
    env.update(
        {
            "PASSWORD_BCRYPT_ROUNDS": "4",
            "LOG_LEVEL": "warning",
            "SHUTDOWN_DRAIN": "0.2",
            "SHUTDOWN_GRACE": "5",
            "RATE_LIMIT_PER_MINUTE": "100000",
            "LOGIN_RATE_LIMIT_PER_MINUTE": "100000",
        }
    )
    env.update(extra)
    return env


def fresh_window(margin: float = 12) -> None:
    """Rate limits use fixed one-minute windows: start well inside one."""
    left = 60 - time.time() % 60
    if left < margin:
        time.sleep(left + 0.3)


def stop_all(*procs: Proc) -> None:
    """SIGTERM every process at once, then wait for each (killing a straggler)."""
    running = [p for p in procs if p.popen is not None and p.popen.poll() is None]
    for proc in running:
        proc.signal(signal.SIGTERM)
    for proc in running:
        assert proc.popen is not None
        try:
            proc.popen.wait(15)
        except subprocess.TimeoutExpired:
            proc.popen.kill()
            proc.popen.wait(5)
