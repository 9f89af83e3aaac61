"""``python -m bench.matrix``: each configuration choice measured side by side, in one run.

For every variant it starts its own notifier, api and gateway (fresh ports,
the same PostgreSQL database and Redis db, a prefix of its own), runs the
``messages`` scenario at each rate, stops them, and goes on; ``--repeat``
rounds interleave the variants so the machine's noise falls on all of them
alike. The table gives medians and each variant's ratio to ``default``.

    python -m bench.matrix --variants default,daphne,core-layer --rates 100,200 --duration 20 --repeat 2

Variants (``--list``): the defaults of ``make stack`` (uvicorn + uvloop +
httptools, websockets-sansio, no per-message deflate, pub/sub channel layer,
psycopg pool, 8 DB threads, gRPC notifier) and one change each.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench import scenarios
from bench.cli import METRICS, _table
from bench.ports import free_port
from bench.targets import NeonChat, SetupError

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Variant:
    what: str
    env: dict[str, str] = field(default_factory=dict)
    gateway: tuple[str, ...] = ()  # the gateway's command (default: manage.py serve); {port} is filled in


UVICORN_PLAIN = (
    "-m", "uvicorn", "neonchat.asgi:application", "--host", "127.0.0.1", "--port", "{port}",
    "--loop", "asyncio", "--http", "h11", "--ws", "websockets", "--no-access-log",
)  # fmt: skip
VARIANTS: dict[str, Variant] = {
    "default": Variant("make stack's defaults"),
    "daphne": Variant(
        "gateway under daphne instead of uvicorn",
        gateway=("-m", "daphne", "-b", "127.0.0.1", "-p", "{port}", "neonchat.asgi:application"),
    ),
    "uvicorn-plain": Variant(
        "uvicorn with the asyncio loop, h11 and the legacy websockets protocol", gateway=UVICORN_PLAIN
    ),
    "core-layer": Variant("channels_redis core (list-based) layer instead of pub/sub", {"BENCH_CHANNEL_LAYER": "core"}),
    "no-pool": Variant("no psycopg pool: a connection per unit of work", {"BENCH_DB_POOL": "0"}),
    "one-db-thread": Variant("one DB thread (what database_sync_to_async gives)", {"DB_THREADS": "1"}),
    "no-notifier": Variant("fan-out in the committing process, no gRPC hop", {"NOTIFIER_ADDR": ""}),
    "thread-per-request": Variant(
        "Django's stock ASGI handler: a new thread per HTTP request", {"BENCH_DJANGO_HANDLER": "1"}
    ),
}

REST_METRICS: list[tuple[str, Any]] = [
    ("achieved_rate", lambda r: r["achieved_rate"]),
    ("p50", lambda r: r["latency"]["p50_ms"]),
    ("p95", lambda r: r["latency"]["p95_ms"]),
    ("p99", lambda r: r["latency"]["p99_ms"]),
    ("max", lambda r: r["latency"]["max_ms"]),
    ("errors", lambda r: r["error_total"]),
]


class Stack:
    """One variant's notifier, api and gateway."""

    def __init__(self, variant: Variant, base_env: dict[str, str], log_dir: Path) -> None:
        self.variant, self.log_dir = variant, log_dir
        self.ports = {"notifier": free_port(), "api": free_port(), "gateway": free_port()}
        notifier = f"127.0.0.1:{self.ports['notifier']}"
        self.env = {
            **base_env,
            "CHANNEL_LAYER_PREFIX": f"matrix-{uuid.uuid4().hex[:8]}",
            "NOTIFIER_ADDR": notifier,
            "NOTIFIER_LISTEN": notifier,
            "NOTIFIER_METRICS_PORT": "0",
            **variant.env,
        }
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def _spawn(self, name: str, args: list[str]) -> None:
        log = (self.log_dir / f"{name}-{self.ports[name]}.log").open("ab")
        self.procs[name] = subprocess.Popen(
            [sys.executable, *args], cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip

    def start(self) -> Stack:
        if self.env["NOTIFIER_ADDR"]:
            self._spawn("notifier", ["manage.py", "run_notifier"])
        self._spawn("api", ["manage.py", "serve", "--port", str(self.ports["api"]), "--role", "api"])
        gateway = self.variant.gateway or ("manage.py", "serve", "--port", "{port}", "--role", "gateway")
        self._spawn("gateway", [a.replace("{port}", str(self.ports["gateway"])) for a in gateway])
        for name in ("api", "gateway"):
            self._wait_live(name)
        return self

    def _wait_live(self, name: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.procs[name].poll() is not None:
                raise RuntimeError(f"{name} exited; see {self.log_dir}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{self.ports[name]}/health/live", timeout=1).status_code == 200:
                    return
            time.sleep(0.1)
        raise TimeoutError(f"{name} not live within {timeout}s")

    @property
    def pids(self) -> dict[str, int]:
        return {name: p.pid for name, p in self.procs.items()}

    def stop(self) -> None:
        for proc in self.procs.values():
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def base_env(database_url: str, redis_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "CHANNEL_LAYER", "NOTIFIER_"))}
    return {
        **env,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "DJANGO_SETTINGS_MODULE": "bench.settings",  # production's, plus the variants' switches
        "LOG_LEVEL": "warning",
        "RATE_LIMIT_PER_MINUTE": "10000000",
        "LOGIN_RATE_LIMIT_PER_MINUTE": "10000000",
        "WS_MESSAGES_PER_SECOND": "100000",
        "WS_FRAMES_PER_SECOND": "100000",
        "PASSWORD_BCRYPT_ROUNDS": "4",
    }


def prepare_database(env: dict[str, str]) -> None:
    for args in (["createdb"], ["migrate", "--noinput", "-v", "0"]):
        subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)


async def run_matrix(args: argparse.Namespace) -> dict[str, Any]:
    names = args.variants.split(",")
    rates = [float(r) for r in args.rates.split(",")]
    env = base_env(args.database_url, args.redis_url)
    await asyncio.to_thread(prepare_database, env)
    log_dir = Path(args.log_dir or tempfile.mkdtemp(prefix="neonchat-matrix-"))
    await asyncio.to_thread(log_dir.mkdir, parents=True, exist_ok=True)
    runs: dict[str, dict[float, list[dict[str, Any]]]] = {n: {r: [] for r in rates} for n in names}
    for rep in range(args.repeat):
        for name in names:
            stack = Stack(VARIANTS[name], env, log_dir)
            try:
                await asyncio.to_thread(stack.start)
                target = NeonChat(
                    f"http://127.0.0.1:{stack.ports['api']}", f"ws://127.0.0.1:{stack.ports['gateway']}/ws"
                )
                for rate in rates:
                    print(
                        f"-- {name} {rate:g}/s ({args.scenario}), round {rep + 1}/{args.repeat}",
                        file=sys.stderr,
                        flush=True,
                    )
                    try:
                        result = await _scenario(args, target, rate, stack.pids)
                    except SetupError as error:  # reported, and the other runs go on
                        print(f"   run failed: {error}", file=sys.stderr, flush=True)
                        continue
                    result["variant"] = name
                    runs[name][rate].append(result)
                    print(_summary(result), file=sys.stderr, flush=True)
            finally:
                await asyncio.to_thread(stack.stop)
    report = _report(names, rates, runs)
    print(f"\n== medians of {args.repeat} round(s), {args.pairs} pairs, {args.duration:g} s per rate; logs {log_dir}")
    print(report["table"])
    return {"scenario": "matrix", "rates": rates, "pairs": args.pairs, "medians": report["medians"], "runs": runs}


async def _scenario(args: argparse.Namespace, target: NeonChat, rate: float, pids: dict[str, int]) -> dict[str, Any]:
    if args.scenario == "rest":
        return await scenarios.rest(
            target, pairs_n=args.pairs, rate=rate, duration=args.duration, seed_messages=30, history_share=0.5,
            procs=pids,
        )  # fmt: skip
    return await scenarios.messages(
        target, pairs_n=args.pairs, rate=rate, duration=args.duration, drain=args.drain, procs=pids
    )


def _summary(r: dict[str, Any]) -> str:
    if r["scenario"] == "rest":
        cpu = {p["name"]: p["cpu_pct_mean"] for p in r["processes"]}
        lat = r["latency"]
        latency = f"p50 {lat['p50_ms']} / p95 {lat['p95_ms']} ms"
        return f"   {r['achieved_rate']} req/s, {latency}, errors {r['error_total']}, CPU % {cpu}"
    ack, dl = r["ack_latency"], r["delivery_latency"]
    cpu = {p["name"]: p["cpu_pct_mean"] for p in r["processes"]}
    return (
        f"   acked {r['achieved_ack_rate']}/s, delivered {r['achieved_delivery_rate']}/s, "
        f"ack p95 {ack['p95_ms']} ms, delivery p95 {dl['p95_ms']} ms, lost {r['lost']}, errors {r['error_total']}, "
        f"CPU % {cpu}"
    )


def _metrics(runs: list[dict[str, Any]]) -> list[tuple[str, Any]]:
    return REST_METRICS if runs and runs[0]["scenario"] == "rest" else METRICS


def _median_row(runs: list[dict[str, Any]]) -> dict[str, Any]:
    row: dict[str, Any] = {m: statistics.median(get(r) for r in runs) for m, get in _metrics(runs)}
    cpu: dict[str, list[float]] = {}
    for r in runs:
        for p in r["processes"]:
            if p["cpu_pct_mean"] is not None and p["name"] != "harness":
                cpu.setdefault(p["name"], []).append(p["cpu_pct_mean"])
    row["cpu_total"] = round(sum(statistics.median(v) for v in cpu.values()), 1)
    return row


def _report(names: list[str], rates: list[float], runs: dict[str, dict[float, list[dict[str, Any]]]]) -> dict[str, Any]:
    medians: dict[str, dict[str, dict[str, Any]]] = {}
    for name in names:
        medians[name] = {str(rate): _median_row(runs[name][rate]) for rate in rates if runs[name][rate]}
    metrics = _metrics(next((r for by_rate in runs.values() for r in by_rate.values() if r), []))
    rate_key = metrics[0][0]
    rows = []
    for rate in rates:
        base = medians.get("default", {}).get(str(rate))
        for name in names:
            row = medians[name].get(str(rate))
            if row is None:
                rows.append([name, rate, *("-" for _ in metrics), "-", "no successful run"])
                continue
            ratio = "-"
            if base and base[rate_key]:
                ratio = f"{row[rate_key] / base[rate_key]:.2f}"
            rows.append([name, rate, *(row[m] for m, _ in metrics), row["cpu_total"], ratio])
    headers = ["variant", "offered/s", *(m for m, _ in metrics), "server CPU % (sum)", f"{rate_key} vs default"]
    return {"medians": medians, "table": _table(headers, rows)}


def serve(args: argparse.Namespace) -> int:
    """Start one variant's stack for scenarios run by hand; stop it on Ctrl-C or SIGTERM."""
    env = base_env(args.database_url, args.redis_url)
    prepare_database(env)
    log_dir = Path(args.log_dir or tempfile.mkdtemp(prefix="neonchat-serve-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    stack = Stack(VARIANTS[args.serve], env, log_dir)
    try:
        stack.start()
        ports = stack.ports
        by_port = ",".join(f"{n}={p}" for n, p in ports.items())
        urls = f"--api http://127.0.0.1:{ports['api']} --ws ws://127.0.0.1:{ports['gateway']}/ws --ports {by_port}"
        print(f"{urls}   (logs {log_dir}; Ctrl-C stops)", flush=True)
        while all(proc.poll() is None for proc in stack.procs.values()):
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        stack.stop()
    return 0


def stop_on_signals() -> None:
    """Ctrl-C and SIGTERM both raise KeyboardInterrupt, so the ``finally`` blocks stop the stacks
    (which run in their own sessions). Also for a background job, where SIGINT starts out ignored."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)


def main(argv: list[str] | None = None) -> int:
    stop_on_signals()
    parser = argparse.ArgumentParser(prog="python -m bench.matrix", description=__doc__.splitlines()[0])
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated, see --list")
    parser.add_argument("--list", action="store_true", help="print the variants and exit")
    parser.add_argument("--scenario", choices=("messages", "rest"), default="messages")
    parser.add_argument("--rates", default="100,200", help="msg/s (messages) or requests/s (rest)")
    parser.add_argument("--pairs", type=int, default=100)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--drain", type=float, default=10.0)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/neonchat_bench")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/6")
    parser.add_argument("--serve", metavar="VARIANT", help="only start that variant's stack, print its URLs, hold it")
    parser.add_argument("--log-dir")
    parser.add_argument("--json", metavar="PATH")
    args = parser.parse_args(argv)
    if args.list:
        for name, variant in VARIANTS.items():
            print(f"{name:15} {variant.what}")
        return 0
    unknown = {*args.variants.split(","), *([args.serve] if args.serve else [])} - set(VARIANTS)
    if unknown:
        parser.error(f"unknown variants: {', '.join(sorted(unknown))} (see --list)")
    if args.serve:
        return serve(args)
    result = asyncio.run(run_matrix(args))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
