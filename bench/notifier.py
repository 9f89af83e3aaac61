"""SendMessage throughput and latency of one notifier process.

A pool of concurrent callers (closed model: each sends its next call when the
previous one returns) over one gRPC channel, for a fixed time. Recipients are
random user ids with no live connection, so this measures the notifier's own
cost: dedup key, one channel-layer publish per member, connection counts.

    .venv/bin/python -m bench.notifier --addr 127.0.0.1:8081 --callers 32 --seconds 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid

import grpc

from bench.hist import Histogram
from protos.notification.v1 import notification_pb2 as pb
from protos.notification.v1 import notification_pb2_grpc as pb_grpc


def request() -> pb.SendMessageRequest:
    sender, partner = str(uuid.uuid4()), str(uuid.uuid4())
    return pb.SendMessageRequest(
        message_id=str(uuid.uuid4()), chat_id=str(uuid.uuid4()), sender_id=sender, text="bench", seq=1,
        timestamp=int(time.time()), created_at="2026-01-01T00:00:00Z", recipient_ids=[sender, partner],
    )  # fmt: skip


async def caller(stub: pb_grpc.NotificationServiceStub, until: float, hist: Histogram, errors: list[str]) -> None:
    while time.monotonic() < until:
        started = time.monotonic()
        try:
            await stub.SendMessage(request(), timeout=5)
        except grpc.aio.AioRpcError as error:
            errors.append(error.code().name)
            continue
        hist.record(time.monotonic() - started)


async def run(addr: str, callers: int, seconds: float) -> dict[str, object]:
    async with grpc.aio.insecure_channel(addr) as channel:
        stub = pb_grpc.NotificationServiceStub(channel)
        await stub.SendMessage(request(), timeout=10)  # warm up the connection
        hist = Histogram()
        errors: list[str] = []
        started = time.monotonic()
        until = started + seconds
        await asyncio.gather(*(caller(stub, until, hist, errors) for _ in range(callers)))
        elapsed = time.monotonic() - started
    return {"callers": callers, "seconds": round(elapsed, 1), "calls_per_s": round(hist.count / elapsed, 1),
            "errors": len(errors), **hist.summary_ms()}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--addr", default="127.0.0.1:8081")
    parser.add_argument("--callers", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--seconds", type=float, default=15)
    args = parser.parse_args()
    print(f"{'callers':>8}{'calls/s':>10}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'errors':>8}")
    rows = []
    for callers in args.callers:
        row = asyncio.run(run(args.addr, callers, args.seconds))
        rows.append(row)
        print(
            f"{callers:>8}{row['calls_per_s']:>10}{row['p50_ms']:>9}{row['p95_ms']:>9}{row['p99_ms']:>9}{row['errors']:>8}"
        )
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
