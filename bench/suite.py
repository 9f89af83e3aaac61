"""``python -m bench.suite`` (``make bench``): NeonChat against the Channels-tutorial baseline, one run.

Starts what it measures and stops it afterwards: NeonChat's three processes
with ``make stack``'s defaults (database ``neonchat_bench``, Redis db 6, a
prefix of their own) and the baseline under daphne (Redis db 10), then runs
``python -m bench compare`` across ``--rates`` and prints the table with
every figure next to the baseline's. Extra arguments after ``--`` go to
``compare`` (e.g. ``-- --repeat 3 --duration 30``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.cli import build_parser, compare
from bench.matrix import ROOT, VARIANTS, Stack, base_env, free_port, prepare_database, stop_on_signals


class BaselineServer:
    """The tutorial chat under daphne on a free port."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.port = free_port()
        self.env = {**env, "DJANGO_SETTINGS_MODULE": "bench.baseline.settings"}
        self.log = log_dir / f"baseline-{self.port}.log"
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
    stack = Stack(VARIANTS["default"], env, log_dir)
    baseline = BaselineServer(env, log_dir)
    try:
        await asyncio.to_thread(stack.start)
        await asyncio.to_thread(baseline.start)
        ports = ",".join(f"{name}={port}" for name, port in stack.ports.items())
        compare_args = build_parser().parse_args([
            "compare", "--api", f"http://127.0.0.1:{stack.ports['api']}",
            "--ws", f"ws://127.0.0.1:{stack.ports['gateway']}/ws", "--baseline", f"ws://127.0.0.1:{baseline.port}",
            "--ports", ports, "--rates", args.rates, "--repeat", str(args.repeat), "--duration", str(args.duration),
            *extra,
        ])  # fmt: skip
        result = await compare(compare_args)
        print(f"(server logs: {log_dir})")
        return result
    finally:
        await asyncio.to_thread(baseline.stop)
        await asyncio.to_thread(stack.stop)


def main(argv: list[str] | None = None) -> int:
    stop_on_signals()
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    own = argv[: argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(prog="python -m bench.suite", description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="100,200,300")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/neonchat_bench")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/6")
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
