"""``python -m bench.suite`` (``make bench``): NeonChat against the tutorial apps, REST and WebSocket, one run.

Starts what it measures and stops it afterwards: NeonChat as ``make stack``
starts it (``bin/stack`` on free ports, database ``neonchat_bench``, Redis
db 6, a channel prefix of its own, ``API_WORKERS`` api processes: one per
core unless ``--api-workers``), then:

* **REST** (skipped by ``--no-rest``): the DRF + simplejwt tutorial app
  (``bench/restbaseline``) under ``uvicorn --workers`` with the same number
  of workers, over the same database, twice: with ``startproject``'s
  database settings (a connection per request) and with Django's psycopg
  pool. One user with ``--rest-chats`` chats seeded through NeonChat's API;
  wrk (closed loop, keep-alive) on ``/health/live``, ``/api/v1/users/me``,
  ``/api/v1/chats?limit=20`` and a 50-message history page at 4 and 16
  connections, each target in turn; prints RPS, p50/p95/p99 and NeonChat's
  RPS over each baseline's, with the load average before and after.
* **WebSocket** (skipped by ``--rest-only``): the Channels tutorial chat under
  daphne twice, on channels_redis's core layer (as in the tutorial, Redis db
  10) and on its pub/sub layer (its best variant, Redis db 11); then ``python
  -m bench compare`` across ``--rates``, every figure next to both
  baselines'. Extra arguments after ``--`` go to ``compare`` (e.g. ``--
  --repeat 3 --duration 30``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench import restwrk
from bench.cli import build_parser, compare
from bench.matrix import ROOT, base_env, free_port, prepare_database, stop_on_signals


class MakeStack:
    """NeonChat's three processes as ``make stack`` starts them (``bin/stack``), on free ports."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.ports = {"notifier": free_port(), "api": free_port(), "gateway": free_port()}
        notifier = f"127.0.0.1:{self.ports['notifier']}"
        self.env = {
            **env,
            "API_PORT": str(self.ports["api"]),
            "GATEWAY_PORT": str(self.ports["gateway"]),
            "NOTIFIER_ADDR": notifier,
            "NOTIFIER_LISTEN": notifier,
            "NOTIFIER_METRICS_PORT": "0",
            "CHANNEL_LAYER_PREFIX": f"bench-{uuid.uuid4().hex[:8]}",
            # supervisord's configuration, socket and logs: not the var/run/stack of a user's make stack
            "RUN_DIR": str(log_dir / "stack-run"),
        }
        self.log = log_dir / "stack.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> MakeStack:
        self.proc = subprocess.Popen(
            ["bin/stack"], cwd=ROOT, env=self.env, stdout=self.log.open("ab"), stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        for name in ("api", "gateway"):
            _wait_port(self.ports[name], self.proc, timeout=90)
        return self

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


class BaselineServer:
    """A tutorial app on a free port: ``command`` with ``{port}`` filled in, started from the repository root."""

    def __init__(self, name: str, env: dict[str, str], log_dir: Path, command: list[str]) -> None:
        self.name = name
        self.port = free_port()
        self.env = env
        self.command = [arg.replace("{port}", str(self.port)) for arg in command]
        self.log = log_dir / f"baseline-{name}-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> BaselineServer:
        self.proc = subprocess.Popen(
            self.command, cwd=ROOT, env=self.env, stdout=self.log.open("ab"), stderr=subprocess.STDOUT
        )
        _wait_port(self.port, self.proc)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def channels_baseline(env: dict[str, str], log_dir: Path, *, layer: str, redis_url: str) -> BaselineServer:
    """The Channels tutorial chat under daphne, on the core or the pub/sub layer."""
    env = {**env, "DJANGO_SETTINGS_MODULE": "bench.baseline.settings", "BASELINE_LAYER": layer}
    env["BASELINE_REDIS_URL"] = redis_url
    command = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", "{port}", "bench.baseline.asgi:application"]
    return BaselineServer(f"tutorial-{layer}", env, log_dir, command)


def rest_baseline(env: dict[str, str], log_dir: Path, *, workers: int, pool: bool) -> BaselineServer:
    """The DRF + simplejwt tutorial app under ``uvicorn --workers`` (as Django's docs deploy), on NeonChat's DB."""
    env = {**env, "DJANGO_SETTINGS_MODULE": "bench.restbaseline.settings", "BASELINE_DB_POOL": "1" if pool else "0"}
    env["BASELINE_DATABASE_URL"] = env["DATABASE_URL"]
    command = [
        sys.executable, "-m", "uvicorn", "bench.restbaseline.asgi:application", "--host", "127.0.0.1",
        "--port", "{port}", "--workers", str(workers), "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip
    return BaselineServer("drf-tutorial-pool" if pool else "drf-tutorial", env, log_dir, command)


def _wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server on {port} exited ({proc.returncode})")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on {port}")


def _mint_token(baseline: BaselineServer, user_id: str) -> str:
    command = [sys.executable, "-m", "bench.restbaseline.mint_token", user_id]
    return subprocess.run(
        command, cwd=ROOT, env=baseline.env, capture_output=True, text=True, check=True
    ).stdout.strip()


def run_rest(stack: MakeStack, baselines: list[BaselineServer], args: argparse.Namespace) -> dict[str, Any]:
    """wrk on NeonChat's api and each REST baseline, the same user and chat on all of them."""
    api = f"http://127.0.0.1:{stack.ports['api']}"
    seeded = restwrk.prepare(api, args.rest_chats, 50)
    targets = [restwrk.Target("neonchat", api, seeded.token, seeded.chat_id)]
    targets += [restwrk.Target(b.name, b.url, _mint_token(b, seeded.user_id), seeded.chat_id) for b in baselines]
    for target in targets:  # every worker started, pools and caches warm
        restwrk.run_wrk(target.url + restwrk.ENDPOINTS["chats"], target.token, 16, 3)
    load_before = os.getloadavg()
    connections = [int(c) for c in args.rest_connections.split(",")]
    results = restwrk.measure(targets, list(restwrk.ENDPOINTS), connections, args.rest_duration, args.rest_rounds)
    load_after = os.getloadavg()
    names = [t.name for t in targets]
    print(
        f"\nREST: NeonChat api and each baseline with {args.api_workers} worker(s); wrk {args.rest_duration} s "
        f"per run, {args.rest_rounds} round(s), medians; load average (1/5/15 min) before {_load(load_before)}, "
        f"after {_load(load_after)} on {os.cpu_count()} CPUs"
    )
    print(restwrk.table(results, names, first_over=True))
    print("\nREST targets (issue 16), NeonChat's medians:")
    print("\n".join(f"* {line}" for line in restwrk.targets(results, names)))
    return {
        "workers": args.api_workers,
        "load_before": load_before,
        "load_after": load_after,
        "results": [{"endpoint": e, "target": t, "connections": c, "runs": r} for (e, t, c), r in results.items()],
    }


def _load(load: tuple[float, float, float]) -> str:
    return "/".join(f"{v:.1f}" for v in load)


async def _rest_phase(env: dict[str, str], log_dir: Path, stack: MakeStack, args: argparse.Namespace) -> dict[str, Any]:
    baselines = [rest_baseline(env, log_dir, workers=args.api_workers, pool=pool) for pool in (False, True)]
    try:
        for baseline in baselines:
            await asyncio.to_thread(baseline.start)
        return await asyncio.to_thread(run_rest, stack, baselines, args)
    finally:
        for baseline in baselines:
            await asyncio.to_thread(baseline.stop)


async def _websocket_phase(
    env: dict[str, str], log_dir: Path, stack: MakeStack, args: argparse.Namespace, extra: list[str]
) -> dict[str, Any]:
    baselines = [
        channels_baseline(env, log_dir, layer="core", redis_url=args.baseline_redis_url.replace("{n}", "10")),
        channels_baseline(env, log_dir, layer="pubsub", redis_url=args.baseline_redis_url.replace("{n}", "11")),
    ]
    try:
        for baseline in baselines:
            await asyncio.to_thread(baseline.start)
        ports = ",".join(f"{name}={port}" for name, port in stack.ports.items())
        named = [arg for b in baselines for arg in ("--baseline", f"{b.name}=ws://127.0.0.1:{b.port}")]
        compare_args = build_parser().parse_args([
            "compare", "--api", f"http://127.0.0.1:{stack.ports['api']}",
            "--ws", f"ws://127.0.0.1:{stack.ports['gateway']}/ws", *named,
            "--ports", ports, "--rates", args.rates, "--repeat", str(args.repeat), "--duration", str(args.duration),
            *extra,
        ])  # fmt: skip
        return await compare(compare_args)
    finally:
        for baseline in baselines:
            await asyncio.to_thread(baseline.stop)


async def run_suite(args: argparse.Namespace, extra: list[str]) -> dict[str, Any]:
    env = {**base_env(args.database_url, args.redis_url), "API_WORKERS": str(args.api_workers)}
    await asyncio.to_thread(prepare_database, env)
    log_dir = Path(tempfile.mkdtemp(prefix="neonchat-bench-"))
    stack = MakeStack(env, log_dir)
    result: dict[str, Any] = {}
    try:
        await asyncio.to_thread(stack.start)
        if args.rest:
            result["rest"] = await _rest_phase(env, log_dir, stack, args)
        if not args.rest_only:
            result["websocket"] = await _websocket_phase(env, log_dir, stack, args, extra)
        print(f"(server logs: {log_dir})")
        return result
    finally:
        await asyncio.to_thread(stack.stop)


def _cores() -> int:
    """NeonChat's own default for ``API_WORKERS``."""
    return len(os.sched_getaffinity(0))


def main(argv: list[str] | None = None) -> int:
    stop_on_signals()
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    own = argv[: argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(prog="python -m bench.suite", description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="100,500,1000,2000,3000")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/neonchat_bench")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/6")
    parser.add_argument("--baseline-redis-url", default="redis://127.0.0.1:6379/{n}", help="{n}: 10 core, 11 pubsub")
    parser.add_argument("--json", metavar="PATH")
    parser.add_argument("--api-workers", type=int, default=int(os.environ.get("API_WORKERS") or _cores()))
    parser.add_argument("--rest-only", action="store_true", help="only the REST comparison")
    parser.add_argument("--no-rest", dest="rest", action="store_false", help="only the WebSocket comparison")
    parser.add_argument("--rest-duration", type=int, default=15, help="seconds per wrk run")
    parser.add_argument("--rest-rounds", type=int, default=1)
    parser.add_argument("--rest-connections", default="4,16")
    parser.add_argument("--rest-chats", type=int, default=20, help="chats of the measured user")
    args = parser.parse_args(own)
    if args.rest and shutil.which("wrk") is None:
        print("make bench: wrk is not installed (apt-get install wrk); the REST part is skipped", file=sys.stderr)
        args.rest = False
        if args.rest_only:
            return 2
    with contextlib.suppress(KeyboardInterrupt):
        result = asyncio.run(run_suite(args, extra))
        if args.json:
            Path(args.json).write_text(json.dumps(result, indent=2, default=str))
        return 0
    return 130


if __name__ == "__main__":
    sys.exit(main())
