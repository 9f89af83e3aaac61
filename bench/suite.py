"""``python -m bench.suite`` (``make bench``): NeonChat against the Channels-tutorial chat, one run.

Starts what it measures and stops it afterwards: NeonChat as ``make stack``
starts it (``bin/stack`` on free ports, database ``neonchat_bench``, Redis
db 6, a channel prefix of its own) and the tutorial chat under daphne twice,
on channels_redis's core layer (as in the tutorial, Redis db 10) and on its
pub/sub layer (its best variant, Redis db 11); then runs ``python -m bench
compare`` across ``--rates`` and prints the table with every figure next to
both baselines'. Extra arguments after ``--`` go to ``compare`` (e.g.
``-- --repeat 3 --duration 30``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

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
    """The tutorial chat under daphne on a free port, on the core or the pub/sub layer."""

    def __init__(self, env: dict[str, str], log_dir: Path, *, layer: str, redis_url: str) -> None:
        self.port = free_port()
        self.layer = layer
        self.env = {
            **env,
            "DJANGO_SETTINGS_MODULE": "bench.baseline.settings",
            "BASELINE_LAYER": layer,
            "BASELINE_REDIS_URL": redis_url,
        }
        self.log = log_dir / f"baseline-{layer}-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> BaselineServer:
        args = [
            sys.executable,
            "-m",
            "daphne",
            "-b",
            "127.0.0.1",
            "-p",
            str(self.port),
            "bench.baseline.asgi:application",
        ]
        self.proc = subprocess.Popen(args, cwd=ROOT, env=self.env, stdout=self.log.open("ab"), stderr=subprocess.STDOUT)
        _wait_port(self.port, self.proc)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


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


async def run_suite(args: argparse.Namespace, extra: list[str]) -> dict[str, Any]:
    env = base_env(args.database_url, args.redis_url)
    await asyncio.to_thread(prepare_database, env)
    log_dir = Path(tempfile.mkdtemp(prefix="neonchat-bench-"))
    stack = MakeStack(env, log_dir)
    baselines = [
        BaselineServer(env, log_dir, layer="core", redis_url=args.baseline_redis_url.replace("{n}", "10")),
        BaselineServer(env, log_dir, layer="pubsub", redis_url=args.baseline_redis_url.replace("{n}", "11")),
    ]
    try:
        await asyncio.to_thread(stack.start)
        for baseline in baselines:
            await asyncio.to_thread(baseline.start)
        ports = ",".join(f"{name}={port}" for name, port in stack.ports.items())
        named = [arg for b in baselines for arg in ("--baseline", f"tutorial-{b.layer}=ws://127.0.0.1:{b.port}")]
        compare_args = build_parser().parse_args([
            "compare", "--api", f"http://127.0.0.1:{stack.ports['api']}",
            "--ws", f"ws://127.0.0.1:{stack.ports['gateway']}/ws", *named,
            "--ports", ports, "--rates", args.rates, "--repeat", str(args.repeat), "--duration", str(args.duration),
            *extra,
        ])  # fmt: skip
        result = await compare(compare_args)
        print(f"(server logs: {log_dir})")
        return result
    finally:
        for baseline in baselines:
            await asyncio.to_thread(baseline.stop)
        await asyncio.to_thread(stack.stop)


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
    args = parser.parse_args(own)
    with contextlib.suppress(KeyboardInterrupt):
        result = asyncio.run(run_suite(args, extra))
        if args.json:
            Path(args.json).write_text(json.dumps(result, indent=2, default=str))
        return 0
    return 130


if __name__ == "__main__":
    sys.exit(main())
