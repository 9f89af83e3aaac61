"""A small NeonChat cluster as real processes: two gateways, two notifiers, two
api instances, the primary (test) Redis plus a second Redis on a free port as
a channel-layer shard, over the pytest test database. No load balancer: tests
pick the instance each client talks to (one test adds HAProxy when installed)."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from django.conf import settings

from tests.e2e.conftest import _test_database_url
from tests.e2e.procs import ROOT, Proc, base_env, free_port, wait_port

# Low enough that one test can exhaust it, high enough for the other tests' few calls per user.
RATE_LIMIT = 40


class ClusterProc(Proc):
    """A Proc that gives a slow start more time: six Django processes starting
    at once on two shared cores take longer than one."""

    START_TIMEOUT = 90.0

    def start(self, log_dir: Path) -> ClusterProc:
        self.log = log_dir / f"{self.name}-{self.port}.log"
        self.popen = subprocess.Popen(
            [sys.executable, "manage.py", *self.args],
            cwd=ROOT,
            env=self.env,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
        )
        wait_port(self.port, timeout=self.START_TIMEOUT)
        deadline = time.monotonic() + self.START_TIMEOUT
        while self.http and time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/health/ready", timeout=2).status_code == 200:
                    break
            time.sleep(0.1)
        return self


@dataclass
class Server:
    """A non-Python child (redis-server, haproxy) with the same start/stop shape as Proc."""

    name: str
    args: list[str]
    port: int
    env: dict[str, str] | None = None
    popen: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    log: Path | None = None

    def start(self, log_dir: Path) -> Server:
        self.log = log_dir / f"{self.name}-{self.port}.log"
        self.popen = subprocess.Popen(
            self.args, env=self.env, stdout=self.log.open("ab"), stderr=subprocess.STDOUT, cwd=log_dir
        )
        wait_port(self.port)
        return self

    def stop(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)


@dataclass
class Cluster:
    apis: list[Proc]
    gateways: list[Proc]
    notifiers: list[Proc]
    shard: Server
    env: dict[str, str]
    log_dir: Path
    notifier_metrics: list[int]

    def restart(self, proc: Proc) -> Proc:
        """Start ``proc`` again on the same port with the same settings (after a test killed it)."""
        proc.stop()
        fresh = ClusterProc(proc.name, proc.args, proc.env, proc.port, http=proc.http).start(self.log_dir)
        for group in (self.apis, self.gateways, self.notifiers):
            for i, member in enumerate(group):
                if member is proc:
                    group[i] = fresh
        return fresh

    def shard_redis(self) -> list[redis.Redis]:
        """One client per channel-layer host, in CHANNEL_LAYER_HOSTS order."""
        return [redis.Redis.from_url(url, decode_responses=True) for url in self.env["CHANNEL_LAYER_HOSTS"].split(",")]


def _start_all(procs: list[Any], log_dir: Path) -> None:
    with ThreadPoolExecutor(len(procs)) as pool:
        list(pool.map(lambda p: p.start(log_dir), procs))


@pytest.fixture(scope="module")
def cluster(django_db_setup: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql" or not settings.REDIS_URL:
        pytest.skip("the cluster needs DATABASE_URL (PostgreSQL) and REDIS_URL")
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (needed for the second channel-layer Redis)")
    log_dir = tmp_path_factory.mktemp("cluster")
    shard_port = free_port()
    shard = Server(
        "redis-shard",
        ["redis-server", "--port", str(shard_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        shard_port,
    ).start(log_dir)
    n_ports = [free_port(), free_port()]
    n_metrics = [free_port(), free_port()]
    env = base_env(
        APP_ENV="test",
        DATABASE_URL=_test_database_url(),
        REDIS_URL=settings.REDIS_URL,
        CHANNEL_LAYER_PREFIX=settings.CHANNEL_LAYER_PREFIX,
        CHANNEL_LAYER_HOSTS=f"{settings.REDIS_URL},redis://127.0.0.1:{shard_port}/0",
        NOTIFIER_ADDR=",".join(f"127.0.0.1:{port}" for port in n_ports),
        RATE_LIMIT_PER_MINUTE=str(RATE_LIMIT),
        # Small pools: six processes share the test server's max_connections.
        DB_MAX_CONNS="5",
    )
    notifiers = [
        ClusterProc(
            f"notifier{i + 1}",
            ["run_notifier"],
            {**env, "NOTIFIER_LISTEN": f"127.0.0.1:{port}", "NOTIFIER_METRICS_PORT": str(metrics)},
            port,
            http=False,
        )
        for i, (port, metrics) in enumerate(zip(n_ports, n_metrics, strict=True))
    ]
    apis = [
        ClusterProc(f"api{i + 1}", ["serve", "--port", str(p), "--role", "api"], env, p)
        for i, p in enumerate([free_port(), free_port()])
    ]
    gateways = [
        ClusterProc(f"gateway{i + 1}", ["serve", "--port", str(p), "--role", "gateway"], env, p)
        for i, p in enumerate([free_port(), free_port()])
    ]
    made = Cluster(apis, gateways, notifiers, shard, env, log_dir, n_metrics)
    try:
        _start_all([*notifiers, *apis, *gateways], log_dir)
        yield made
    finally:
        with ThreadPoolExecutor(6) as pool:
            list(pool.map(Proc.stop, [*made.gateways, *made.apis, *made.notifiers]))
        shard.stop()
