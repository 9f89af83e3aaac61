"""``manage.py serve``: run NeonChat's ASGI app under uvicorn with graceful shutdown.

On SIGTERM/SIGINT: readiness answers 503 at once, then (after
``SHUTDOWN_DRAIN``) WebSocket sends in flight are answered, the listener
closes, WebSockets close with 1012, and in-flight requests get
``SHUTDOWN_GRACE`` seconds to finish; exit code 0.

``--workers N`` (default for ``--role api``: ``API_WORKERS``, one per core)
runs N such servers under uvicorn's own supervisor on one listening socket:
the parent restarts a worker that dies, relays SIGTERM/SIGINT to every worker
at once (each drains as above) and exits 0 once they have. Prometheus
metrics are then kept in ``PROMETHEUS_MULTIPROC_DIR`` (a fresh directory per
run unless set) and ``/metrics`` from any worker sums them all. Embedded
mode (no ``DATABASE_URL``/``REDIS_URL``) is always one process: its delivery
and SQLite database live in it. See docs/scaling.md.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
from pathlib import Path
from types import FrameType
from typing import Any

import uvicorn
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from prometheus_client import multiprocess as prometheus_multiprocess
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import multiprocess

from neonchat.gcpolicy import freeze_startup_objects
from neonchat.health import is_draining, settle, start_draining
from neonchat.httpguard import GuardedHttpToolsProtocol
from neonchat.roles import ROLES


class DrainingServer(uvicorn.Server):
    """uvicorn with a drain window and a clean exit code.

    The first SIGTERM/SIGINT flips readiness to 503, then after
    ``SHUTDOWN_DRAIN`` seconds starts uvicorn's graceful shutdown. Unlike
    uvicorn's own handler it does not re-raise the signal afterwards, so a
    graceful stop exits 0. A second signal forces the exit, except in a
    worker (``worker = True``): there the supervisor is the one to signal, and
    it may say SIGTERM twice; SIGINT (Ctrl-C reaches the whole process group)
    is left to the supervisor, which relays it as SIGTERM.
    """

    worker = False

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.worker and (sig == signal.SIGINT or is_draining()):
            return
        if is_draining():
            self.force_exit = True
            self.should_exit = True
            return
        start_draining()
        timer = threading.Timer(float(settings.SHUTDOWN_DRAIN), self._begin_shutdown)
        timer.daemon = True
        timer.start()

    def _begin_shutdown(self) -> None:
        self.should_exit = True

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        freeze_startup_objects()  # the application is loaded and listening

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # A send stored at this moment is acknowledged before its socket closes.
        await settle(float(settings.SHUTDOWN_GRACE))
        await super().shutdown(sockets)


_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _stop_with(parent: int) -> None:
    """End this worker when ``parent`` dies without stopping it (SIGKILL, a crash): Linux ``prctl``.

    Otherwise the workers of a killed supervisor run on, holding the port, and
    the restarted api cannot bind it. They go as a single api process killed
    the same way would (in-flight requests are cut); a stop by signal reaches
    the supervisor first, which relays it and lets every worker drain.
    """
    if not sys.platform.startswith("linux"):
        return
    if ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        return
    if os.getppid() != parent:  # it died before prctl took effect
        os.kill(os.getpid(), signal.SIGKILL)


class DrainingWorker(multiprocess.Process):
    """One worker process of ``serve --workers``: a :class:`DrainingServer` in place of uvicorn's ``Server``."""

    def __init__(self, config: uvicorn.Config, sockets: list[socket.socket]) -> None:
        self.supervisor_pid = os.getpid()
        super().__init__(config, sockets)

    @property
    def server(self) -> uvicorn.Server:
        if self._server is None:
            self._server = DrainingServer(config=self.config)
            self._server.worker = True
        return self._server

    def target(self, sockets: list[socket.socket] | None = None) -> None:  # pragma: no cover - runs in the worker
        _stop_with(self.supervisor_pid)
        try:
            super().target(sockets)
        finally:
            # Its live gauges (livesum, livemax) stop counting once it has gone.
            prometheus_multiprocess.mark_process_dead(os.getpid())


class Supervisor(multiprocess.Multiprocess):
    """uvicorn's worker supervisor, with the stop relayed to the workers at once.

    uvicorn's own handler only queues the signal for a loop that looks every
    0.5 s; here every worker gets SIGTERM in the handler itself, so all of
    them answer readiness with 503 together, and the parent closes its copy of
    the listening socket, so the port refuses connections as soon as the
    workers have closed theirs (a load balancer fails over at once).
    """

    def __init__(self, config: uvicorn.Config, sockets: list[socket.socket]) -> None:
        super().__init__(config, sockets)
        self.stopping = False
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._stop_now)

    def _stop_now(self, sig: int, frame: FrameType | None) -> None:
        self.stopping = True
        self.signal_queue.append(sig)
        for process in self.processes:
            if process.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGTERM)
        for sock in self.sockets:
            sock.close()

    def keep_subprocess_alive(self) -> None:
        if not self.stopping:  # a worker that exits now is draining, not dead
            super().keep_subprocess_alive()

    @property
    def startup_failed(self) -> bool:
        return any(process.exitcode == STARTUP_FAILURE for process in self.processes)


def _metrics_directory() -> Path | None:
    """``PROMETHEUS_MULTIPROC_DIR``, emptied (its files are per run), or a fresh one; None for the caller to remove."""
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if given:
        directory = Path(given)
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob("*.db"):
            stale.unlink()
        return None
    created = Path(tempfile.mkdtemp(prefix="neonchat-metrics-"))
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(created)  # the workers inherit it
    return created


def _run_workers(config: uvicorn.Config) -> None:
    # uvicorn's supervisor builds its workers from this module name; swapping it
    # is the one way to have them run DrainingServer (uvicorn 0.54 has no hook).
    multiprocess.Process = DrainingWorker  # type: ignore[misc]
    created = _metrics_directory()
    try:
        supervisor = Supervisor(config, sockets=[config.bind_socket()])
        supervisor.run()
    finally:
        if created is not None:
            shutil.rmtree(created, ignore_errors=True)
    if supervisor.startup_failed:
        sys.exit(STARTUP_FAILURE)


class Command(BaseCommand):
    help = "Serve NeonChat (REST, WebSocket, metrics, health) with uvicorn."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8080)
        parser.add_argument(
            "--role",
            choices=ROLES,
            default="all",
            help="all; api: HTTP; gateway: WebSocket, health, metrics",
        )
        parser.add_argument(
            "--workers", type=int, default=None, help="processes (default: API_WORKERS, GATEWAY_WORKERS, 1 for all)"
        )

    @staticmethod
    def _workers(options: dict[str, Any]) -> int:
        default = {"api": settings.API_WORKERS, "gateway": settings.GATEWAY_WORKERS}.get(options["role"], 1)
        workers: int = options["workers"] or default
        if workers < 1:
            raise CommandError("--workers must be at least 1")
        if not (settings.DATABASE_URL and settings.REDIS_URL):
            return 1  # embedded mode: the database file and in-process delivery belong to one process
        return workers

    def handle(self, *args: Any, **options: Any) -> None:
        heartbeat = float(settings.WS_HEARTBEAT_INTERVAL)
        workers = self._workers(options)
        config = uvicorn.Config(
            f"neonchat.roles:{options['role']}_application",
            factory=True,
            host=options["host"],
            port=options["port"],
            loop="uvloop",
            # httptools with a bound on request heads and read time (neonchat/httpguard.py).
            http=GuardedHttpToolsProtocol,
            timeout_keep_alive=5,  # an idle keep-alive connection closes after 5 s (uvicorn's own timer)
            ws="websockets-sansio",
            ws_max_size=2 * 1024 * 1024,
            ws_per_message_deflate=False,
            ws_ping_interval=heartbeat,
            ws_ping_timeout=max(1.0, float(settings.WS_READ_TIMEOUT) - heartbeat),
            lifespan="off",
            # X-Forwarded-For is trusted only from TRUSTED_PROXIES (neonchat.ratelimit.client_ip).
            proxy_headers=False,
            access_log=False,
            log_config=None,
            timeout_graceful_shutdown=int(settings.SHUTDOWN_GRACE) or None,
            backlog=4096,
            workers=workers,
        )
        plural = f" ({workers} workers)" if workers > 1 else ""
        self.stdout.write(f"neonchat {options['role']} listening on http://{options['host']}:{options['port']}{plural}")
        self.stdout.flush()
        if workers > 1:
            _run_workers(config)
        else:
            DrainingServer(config).run()
