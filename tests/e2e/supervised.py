"""``make stack`` / ``make cluster`` started exactly as a user does, under supervisord,
on free ports, a private database and the test Redis: start, find and kill a process,
stop with SIGTERM like a service manager (or Ctrl-C)."""

from __future__ import annotations

import configparser
import contextlib
import os
import signal
import subprocess
import time
import xmlrpc.client
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from supervisor.xmlrpc import SupervisorTransport

from tests.e2e.procs import ROOT, base_env

SUPERVISORCTL = ROOT / ".venv" / "bin" / "supervisorctl"


def wait_until(check: object, timeout: float, interval: float = 0.05) -> float:
    """Seconds until ``check()`` is true; raises TimeoutError after ``timeout``."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if check():  # type: ignore[operator]
            return time.monotonic() - started
        time.sleep(interval)
    raise TimeoutError(f"not true within {timeout} s: {check}")


def drop_database(url: str) -> None:
    """Drop the private database a runner created (its processes are gone by now)."""
    base, _, name = url.rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]


@dataclass
class Runner:
    """One ``make <target>`` in its own session (a terminal of its own)."""

    target: str
    env: dict[str, str]
    run_dir: Path
    popen: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def output_file(self) -> Path:
        return self.run_dir / "foreground.out"

    @property
    def conf(self) -> Path:
        return self.run_dir / "supervisord.conf"

    def start(self, banner: str, timeout: float = 180) -> Runner:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.popen = subprocess.Popen(
            ["make", "-s", self.target],
            cwd=ROOT,
            env={**self.env, "RUN_DIR": str(self.run_dir)},
            stdout=self.output_file.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_until(lambda: banner in self.output() or self.popen.poll() is not None, timeout, 0.2)  # type: ignore[union-attr]
        except TimeoutError:
            self.stop()
            raise
        assert self.popen.poll() is None, self.output()[-3000:]
        return self

    def output(self) -> str:
        return self.output_file.read_text(errors="replace") if self.output_file.exists() else ""

    def ctl(self, *args: str) -> str:
        done = subprocess.run(
            [str(SUPERVISORCTL), "-c", str(self.conf), *args], check=False, capture_output=True, text=True, timeout=30
        )
        return done.stdout

    def rpc(self) -> Any:
        """supervisord's XML-RPC interface over its control socket (what supervisorctl uses)."""
        ini = configparser.RawConfigParser()
        ini.read(self.conf)
        ctl = ini["supervisorctl"]
        transport = SupervisorTransport(ctl["username"], ctl["password"], ctl["serverurl"])
        return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport).supervisor

    def pid(self, name: str) -> int:
        return int(self.rpc().getProcessInfo(name)["pid"])

    def kill(self, name: str) -> tuple[int, float]:
        """SIGKILL one supervised process: its pid, and seconds until supervisord started a new one."""
        pid = self.pid(name)
        killed = time.monotonic()
        os.kill(pid, signal.SIGKILL)
        while self.pid(name) in (0, pid):
            if time.monotonic() - killed > 30:
                raise TimeoutError(f"{name} was not started again")
            time.sleep(0.01)
        return pid, time.monotonic() - killed

    def restarted(self, name: str, old_pid: int) -> bool:
        return self.pid(name) not in (0, old_pid)

    def supervisord_pid(self) -> int:
        return int((self.run_dir / "supervisord.pid").read_text().strip())

    def terminate(self, timeout: float = 90) -> int:
        """SIGTERM to the runner (supervisord), as a service manager stops it; make's exit code."""
        assert self.popen is not None
        os.kill(self.supervisord_pid(), signal.SIGTERM)
        return self.popen.wait(timeout)

    def stop(self) -> None:
        """Whatever state it is in: SIGINT to the session (Ctrl-C), then SIGKILL."""
        if self.popen is None or self.popen.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGINT)
        try:
            self.popen.wait(90)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(10)


def runner_env(database_url: str, redis_url: str, prefix: str, **extra: str) -> dict[str, str]:
    settings = {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "CHANNEL_LAYER_PREFIX": prefix,
        "APP_ENV": "test",
        "NOTIFIER_METRICS_PORT": "0",
        "LOG_LEVEL": "info",
    }
    env = base_env(**{**settings, **extra})
    for name in ("NOTIFICATION_SERVICE_ADDR", "CHANNEL_LAYER_HOSTS", "MAKEFLAGS", "MFLAGS", "MAKELEVEL"):
        env.pop(name, None)
    return env
