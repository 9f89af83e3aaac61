"""``python -m bench.sequential --api URL``: per-request latency with nothing else going on.

One keep-alive connection, one request at a time, for a few endpoints: the
cost of a request through the whole stack (server, middleware, auth, query,
rendering), without queueing. Registers a fresh user first.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid

import httpx

PATHS = ("/health/live", "/api/v1/chats", "/api/v1/users/me")


def measure(api: str, count: int) -> dict[str, dict[str, float]]:
    with httpx.Client(base_url=api.rstrip("/"), timeout=30) as http:
        body = {"username": f"seq{uuid.uuid4().hex[:10]}", "password": f"Seq-{uuid.uuid4().hex}"}
        http.post("/api/v1/auth/register", json=body).raise_for_status()
        token = http.post("/api/v1/auth/login", json=body).raise_for_status().json()["token"]
        headers = {"Authorization": f"Bearer {token}"}
        results = {}
        for path in PATHS:
            times = []
            for _ in range(count):
                started = time.perf_counter()
                http.get(path, headers=headers).raise_for_status()
                times.append((time.perf_counter() - started) * 1000)
            times.sort()
            results[path] = {
                "median_ms": round(statistics.median(times), 2),
                "p95_ms": round(times[int(0.95 * count)], 2),
            }
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sequential", description=__doc__.splitlines()[0])
    parser.add_argument("--api", default="http://127.0.0.1:8080")
    parser.add_argument("--count", type=int, default=200)
    args = parser.parse_args(argv)
    for path, figures in measure(args.api, args.count).items():
        print(f"{path}: median {figures['median_ms']} ms, p95 {figures['p95_ms']} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
