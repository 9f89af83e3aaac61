"""Private PostgreSQL and Redis instances the chaos suite may kill and restart.

They never touch the machine's own services: PostgreSQL is a fresh cluster
(``initdb``) in a temporary directory on a free port, run as the ``postgres``
OS user when we are root; Redis is a ``redis-server`` child process on a free
port with persistence off. Both are removed at the end whatever happens
(``close()`` is idempotent and registered with ``atexit``).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

from tests.e2e.procs import free_port, wait_port

PG_BIN = Path(os.environ.get("CHAOS_PG_BIN", "/usr/lib/postgresql/15/bin"))


def _as_postgres(args: list[str]) -> list[str]:
    """initdb and pg_ctl refuse root: run them as the ``postgres`` OS user then."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *args]
    return args


class Postgres:
    """A throwaway PostgreSQL cluster: ``start``, ``stop(mode)``, ``restart``, ``close``."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.base = Path(tempfile.mkdtemp(prefix="neonchat-chaos-pg-"))
        self.data = self.base / "data"
        self.logfile = self.base / "postgres.log"
        self._closed = False
        atexit.register(self.close)
        if os.geteuid() == 0:
            shutil.chown(self.base, "postgres", "postgres")
        subprocess.run(
            _as_postgres([str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8"]),
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/neonchat_chaos"

    @property
    def conninfo(self) -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname=neonchat_chaos connect_timeout=3"

    def _pg_ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), *args]),
            check=check,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=120,
        )

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c fsync=on "
            "-c synchronous_commit=on -c max_connections=200 -c shared_buffers=64MB"
        )
        self._pg_ctl("-o", options, "-l", str(self.logfile), "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        """``fast`` (clean shutdown) or ``immediate`` (a crash: recovery on next start)."""
        self._pg_ctl("-m", mode, "-w", "stop", check=False)

    def restart(self, mode: str = "immediate", down: float = 0.0) -> None:
        self.stop(mode)
        time.sleep(down)
        self.start()

    def running(self) -> bool:
        return self._pg_ctl("status", check=False).returncode == 0

    def connect(self) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(self.conninfo, autocommit=True)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(Exception):
            if self.data.exists():
                self._pg_ctl("-m", "immediate", "-w", "stop", check=False)
        shutil.rmtree(self.base, ignore_errors=True)


class Redis:
    """A ``redis-server`` child process; ``restart`` kills it and starts a fresh one on the same port."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.base = Path(tempfile.mkdtemp(prefix="neonchat-chaos-redis-"))
        self.popen: subprocess.Popen[bytes] | None = None
        self.restarting = False  # a deliberate restart: the supervisor leaves it alone
        self._closed = False
        atexit.register(self.close)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        log = (self.base / "redis.log").open("ab")
        self.popen = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--daemonize", "no", "--dir", str(self.base), "--maxclients", "4000"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        wait_port(self.port, timeout=10)

    def kill(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.send_signal(signal.SIGKILL)
            self.popen.wait(10)

    def restart(self, down: float = 0.0) -> None:
        self.restarting = True
        try:
            self.kill()
            time.sleep(down)
            self.start()
        finally:
            self.restarting = False

    def died(self) -> bool:
        return not self.restarting and self.popen is not None and self.popen.poll() is not None

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(Exception):
            self.kill()
        shutil.rmtree(self.base, ignore_errors=True)
