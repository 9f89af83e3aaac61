"""The chaos stack and its restart policy.

:class:`Supervisor` starts a private PostgreSQL and Redis (:mod:`tests.chaos.infra`),
creates and migrates the database, then the notifier, api and gateway as
``manage.py`` processes. A monitor thread restarts any of the three that exits
(like ``restart: always`` / ``Restart=always``) and records each restart.
PostgreSQL and Redis are restarted by the faults themselves; Redis is also
restarted if something else kills it.
"""

from __future__ import annotations

import atexit
import contextlib
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

from tests.chaos.infra import Postgres, Redis
from tests.e2e.procs import ROOT, Proc, base_env, free_port

APP_PROCESSES = ("notifier", "api", "gateway")


class OwnSessionProc(Proc):
    """A :class:`Proc` in its own session: a signal to the runner's process group
    (Ctrl-C, ``timeout``) does not hit it; the supervisor stops it in order."""

    def start(self, log_dir: Path) -> OwnSessionProc:
        real_popen = subprocess.Popen

        def popen(*args: Any, **kwargs: Any) -> Any:
            return real_popen(*args, start_new_session=True, **kwargs)

        with mock.patch("tests.e2e.procs.subprocess.Popen", popen):
            super().start(log_dir)
        return self


@dataclass
class Restart:
    name: str
    exit_code: int | None
    detected_at: float  # time.monotonic() when the monitor saw it dead
    started_at: float  # when the new process was spawned
    listening_at: float | None = None  # when it answered (port open, /health/live for http)
    error: str = ""


class Supervisor:
    def __init__(
        self,
        log_dir: Path,
        *,
        presence_ttl: int = 3,
        heartbeat: float = 1.0,
        poll: float = 0.1,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.log_dir = log_dir
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.poll = poll
        self.pg = Postgres()
        self.redis = Redis()
        notifier_port = free_port()
        self.env = base_env(
            DATABASE_URL=self.pg.url,
            REDIS_URL=self.redis.url,
            NOTIFIER_ADDR=f"127.0.0.1:{notifier_port}",
            NOTIFIER_LISTEN=f"127.0.0.1:{notifier_port}",
            NOTIFIER_METRICS_PORT="0",
            CHANNEL_LAYER_PREFIX="neonchat-chaos",
            APP_ENV="test",
            LOG_FORMAT="text",
            PASSWORD_BCRYPT_ROUNDS="4",
            RATE_LIMIT_PER_MINUTE="10000000",
            LOGIN_RATE_LIMIT_PER_MINUTE="10000000",
            WS_MESSAGES_PER_SECOND="100000",
            WS_FRAMES_PER_SECOND="100000",
            PRESENCE_TTL=str(presence_ttl),
            WS_HEARTBEAT_INTERVAL=str(heartbeat),
            **(extra_env or {}),
        )
        self.env.pop("CHANNEL_LAYER_HOSTS", None)
        self.env.pop("NOTIFICATION_SERVICE_ADDR", None)
        api_port, gw_port = free_port(), free_port()
        self.procs: dict[str, Proc] = {
            "notifier": OwnSessionProc("notifier", ["run_notifier"], self.env, notifier_port, http=False),
            "api": OwnSessionProc("api", ["serve", "--port", str(api_port), "--role", "api"], self.env, api_port),
            "gateway": OwnSessionProc(
                "gateway", ["serve", "--port", str(gw_port), "--role", "gateway"], self.env, gw_port
            ),
        }
        self.restarts: list[Restart] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._monitor: threading.Thread | None = None
        self._closed = False
        atexit.register(self.close)

    # ---- lifecycle -------------------------------------------------------
    def start(self) -> Supervisor:
        self.pg.start()
        self.redis.start()
        self._manage("createdb")
        self._manage("migrate", "--noinput", "-v", "0")
        for name in APP_PROCESSES:
            self.procs[name].start(self.log_dir)
        self._monitor = threading.Thread(target=self._watch, name="chaos-supervisor", daemon=True)
        self._monitor.start()
        return self

    def _manage(self, *args: str) -> None:
        subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, check=True, stdout=subprocess.DEVNULL
        )

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        if self._monitor is not None:
            self._monitor.join(5)
        for proc in self.procs.values():
            if proc.popen is not None and proc.popen.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.popen.send_signal(signal.SIGCONT)  # a stalled process cannot handle SIGTERM
            with contextlib.suppress(Exception):
                proc.stop()
        self.redis.close()
        self.pg.close()

    # ---- restart policy --------------------------------------------------
    def _watch(self) -> None:
        while not self._stop.wait(self.poll):
            if self.redis.died():  # killed from outside: same policy
                record = Restart("redis", self.redis.popen.returncode if self.redis.popen else None, time.monotonic(),
                                 time.monotonic())  # fmt: skip
                with self._lock:
                    self.restarts.append(record)
                try:
                    self.redis.start()
                    record.listening_at = time.monotonic()
                except Exception as error:
                    record.error = repr(error)
            for name, proc in self.procs.items():
                if proc.popen is not None and proc.popen.poll() is not None and not self._stop.is_set():
                    self._restart(name, proc)

    def _restart(self, name: str, proc: Proc) -> None:
        assert proc.popen is not None
        record = Restart(name, proc.popen.returncode, time.monotonic(), time.monotonic())
        with self._lock:
            self.restarts.append(record)
        try:
            proc.start(self.log_dir)
            record.listening_at = time.monotonic()
        except Exception as error:  # try again on the next poll
            record.error = repr(error)

    # ---- faults ----------------------------------------------------------
    def signal(self, name: str, sig: int) -> None:
        self.procs[name].signal(sig)

    def restarts_since(self, moment: float, name: str | None = None) -> list[Restart]:
        with self._lock:
            return [r for r in self.restarts if r.detected_at >= moment and (name is None or r.name == name)]

    def url(self, name: str) -> str:
        return self.procs[name].url

    @property
    def ws_url(self) -> str:
        return self.procs["gateway"].ws
