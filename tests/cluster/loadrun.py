"""The bench ``messages`` scenario against several gateways at once, without a
load balancer: the two users of pair i connect to gateways i and i+1 (mod N),
so with two gateways every message crosses from one gateway to the other.

    .venv/bin/python -m tests.cluster.loadrun --api http://127.0.0.1:8160 \\
        --ws ws://127.0.0.1:8162/ws,ws://127.0.0.1:8163/ws \\
        --ports gw1=8162,gw2=8163,n1=8164,n2=8165 --pairs 50 --rate 150 --duration 20

Everything else (open-model schedule, ack and delivery latency from the
intended send time, loss check against history, CPU per process) is the
bench's own (``python -m bench messages --help``).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import sys
from typing import Any

# Imported at run time: the bench package is typed loosely and kept out of mypy.
scenarios: Any = importlib.import_module("bench.scenarios")
bench_cli: Any = importlib.import_module("bench.cli")
procstat: Any = importlib.import_module("bench.procstat")
targets: Any = importlib.import_module("bench.targets")


class MultiGateway(targets.NeonChat):  # type: ignore[misc]
    """NeonChat whose WebSocket clients are spread over several gateway URLs."""

    def __init__(self, api: str, ws_urls: list[str]) -> None:
        super().__init__(api, ws_urls[0])
        self.ws_urls = ws_urls

    def url(self, pair: Any, peer: Any) -> str:
        n = len(self.ws_urls)
        index = pair.index if peer is pair.a else pair.index + 1
        return f"{self.ws_urls[index % n]}?token={peer.token}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.cluster.loadrun", description=__doc__.split("\n\n")[0])
    parser.add_argument("--api", default="http://127.0.0.1:8080")
    parser.add_argument("--ws", required=True, help="comma-separated gateway WebSocket URLs")
    parser.add_argument("--ports", default="", help="processes to sample: name=port,...")
    parser.add_argument("--pairs", type=int, default=50)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--drain", type=float, default=15.0)
    parser.add_argument("--json", metavar="PATH")
    args = parser.parse_args(argv)
    target = MultiGateway(args.api, args.ws.split(","))
    result: dict[str, Any] = asyncio.run(
        scenarios.messages(
            target,
            pairs_n=args.pairs,
            rate=args.rate,
            duration=args.duration,
            drain=args.drain,
            procs=procstat.resolve(None, args.ports),
        )
    )
    result["gateways"] = target.ws_urls
    bench_cli.print_messages(result)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=2, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
