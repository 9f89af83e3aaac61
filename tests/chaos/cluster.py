"""The chaos suite against ``make cluster`` itself: two api, two gateways, two
notifiers, HAProxy and the shard Redis under supervisord, over the suite's
private PostgreSQL and Redis. Clients go through HAProxy, so when one instance
is killed the surviving one carries the load while supervisord starts the dead
one again; the runner's accounting (nothing acknowledged lost or duplicated,
seq without gaps, clients equal to the database) applies unchanged.

Same interface as :class:`tests.chaos.supervisor.Supervisor` for the runner:
``pg``, ``redis``, ``start``/``close``, ``url``, ``ws_url``, ``signal`` and
``restarts_since`` (here: the new pid supervisord started, and when it listened).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import socket
import time
from pathlib import Path

from tests.chaos.infra import Postgres, Redis
from tests.chaos.supervisor import Restart
from tests.e2e.procs import free_port
from tests.e2e.supervised import Runner, runner_env

# The instances a fault may kill: supervisord's name for each.
PROCESSES = {
    "api1": "front:api1",
    "gateway1": "front:gateway1",
    "notifier1": "notifiers:notifier1",
    "haproxy": "front:haproxy",
    "redis-shard": "redis-shard",
}


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class SupervisedCluster:
    def __init__(
        self,
        log_dir: Path,
        *,
        presence_ttl: int = 3,
        heartbeat: float = 1.0,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.log_dir = log_dir
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.pg = Postgres()
        self.redis = Redis()
        ports = {name: free_port() for name in ("api1", "api2", "gateway1", "gateway2", "notifier1", "notifier2")}
        self.lb_api, self.lb_ws, shard = free_port(), free_port(), free_port()
        self.ports = {**ports, "haproxy": self.lb_ws, "redis-shard": shard}
        env = runner_env(
            self.pg.url,
            self.redis.url,
            "neonchat-chaos",
            LOG_FORMAT="text",
            LOG_LEVEL="warning",
            RATE_LIMIT_PER_MINUTE="10000000",
            LOGIN_RATE_LIMIT_PER_MINUTE="10000000",
            WS_MESSAGES_PER_SECOND="100000",
            PRESENCE_TTL=str(presence_ttl),
            WS_HEARTBEAT_INTERVAL=str(heartbeat),
            API_PORTS=f"{ports['api1']},{ports['api2']}",
            GATEWAY_PORTS=f"{ports['gateway1']},{ports['gateway2']}",
            NOTIFIER_PORTS=f"{ports['notifier1']},{ports['notifier2']}",
            NOTIFIER_METRICS_PORTS="0",
            REDIS_SHARD_PORT=str(shard),
            LB_API_PORT=str(self.lb_api),
            LB_WS_PORT=str(self.lb_ws),
            LB_STATS_PORT=str(free_port()),
            DB_MAX_CONNS="10",
            **(extra_env or {}),
        )
        self.runner = Runner("cluster", env, log_dir)  # one log per process there, for scan_logs
        self._killed: dict[str, tuple[int, float]] = {}  # name -> (old pid, when)
        self._restarts: dict[str, Restart] = {}
        self._closed = False
        atexit.register(self.close)

    def start(self) -> SupervisedCluster:
        self.pg.start()
        self.redis.start()
        self.runner.start("neonchat cluster: api http", timeout=300)
        return self

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(Exception):
            self.runner.terminate(90)
        self.runner.stop()
        self.redis.close()
        self.pg.close()

    # ---- faults ----------------------------------------------------------
    def signal(self, name: str, sig: int) -> None:
        pid = self.runner.pid(PROCESSES[name])
        if sig == signal.SIGKILL:
            self._killed[name] = (pid, time.monotonic())
            self._restarts.pop(name, None)
        os.kill(pid, sig)

    def restarts_since(self, moment: float, name: str | None = None) -> list[Restart]:
        """The killed processes supervisord has started again (polled: call it in a loop)."""
        found = []
        for killed, (old_pid, at) in self._killed.items():
            if (name is not None and killed != name) or at < moment:
                continue
            record = self._restarts.get(killed)
            if record is None:
                pid = self.runner.pid(PROCESSES[killed])
                if pid in (0, old_pid):
                    continue
                record = self._restarts[killed] = Restart(killed, None, at, time.monotonic())
            if record.listening_at is None and _listening(self.ports[killed]):
                record.listening_at = time.monotonic()
            found.append(record)
        return found

    def url(self, name: str) -> str:
        """Clients see HAProxy: REST on one port, WebSocket (and the gateways' health) on the other."""
        return f"http://127.0.0.1:{self.lb_api if name == 'api' else self.lb_ws}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.lb_ws}/ws"
