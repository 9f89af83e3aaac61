"""``python -m bench.restwrk --target NAME=URL ...``: REST throughput with wrk, targets side by side.

What a user's load tester sees: wrk (closed loop, keep-alive) against api
processes already running (``bin/stack`` with private ports, say). For each
target it registers a user with ``--chats`` chats (one message each), then
for every round, endpoint and connection count runs wrk on each target in
turn, so the machine's noise falls on all of them alike. Prints the median
RPS and latency percentiles over the rounds and each target's RPS ratio to
the first one.

    python -m bench.restwrk --target before=http://127.0.0.1:18080 --target after=http://127.0.0.1:28080
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import uuid
from typing import Any

import httpx

ENDPOINTS = {
    "health": "/health/live",
    "me": "/api/v1/users/me",
    "chats": "/api/v1/chats?limit=20",
    "history": "/api/v1/chats/{chat_id}/messages?limit=50",
}


def prepare(api: str, chats: int, messages: int) -> dict[str, str]:
    """A fresh user with ``chats`` chats; returns the token and a chat id for the history page."""
    with httpx.Client(base_url=api.rstrip("/"), timeout=30) as http:

        def user() -> tuple[str, str]:
            body = {"username": f"wrk{uuid.uuid4().hex[:12]}", "password": f"Wrk-{uuid.uuid4().hex}"}
            user_id = http.post("/api/v1/auth/register", json=body).raise_for_status().json()["id"]
            return user_id, http.post("/api/v1/auth/login", json=body).raise_for_status().json()["token"]

        _, token = user()
        headers = {"Authorization": f"Bearer {token}"}
        chat_id = ""
        for index in range(chats):
            partner_id, _ = user()
            chat_id = http.post("/api/v1/chats", json={"partner_id": partner_id}, headers=headers).json()["id"]
            for m in range(messages if index == 0 else 1):
                body = {"text": f"message {m}", "request_id": str(uuid.uuid4())}
                http.post(f"/api/v1/chats/{chat_id}/messages", json=body, headers=headers).raise_for_status()
    return {"token": token, "chat_id": chat_id}


# wrk's own report has no p95: its Lua hook prints the percentiles (microseconds) and non-2xx count.
_REPORT = """
done = function(summary, latency, requests)
  io.write(string.format("PCT %d %d %d %d\\n", latency:percentile(50), latency:percentile(95),
    latency:percentile(99), summary.errors.status))
end
"""


def run_wrk(url: str, token: str, connections: int, duration: int) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        script.write(_REPORT)
        script.flush()
        threads = "1" if connections < 4 else "2"
        args = ["wrk", "-t", threads, "-c", str(connections), "-d", f"{duration}s", "-s", script.name]
        out = subprocess.run(
            [*args, "-H", f"Authorization: Bearer {token}", url], capture_output=True, text=True, check=True
        ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50, p95, p99, bad = (int(v) for v in re.search(r"PCT (\d+) (\d+) (\d+) (\d+)", out).groups())  # type: ignore[union-attr]
    return {"rps": rps, "p50": p50 / 1000, "p95": p95 / 1000, "p99": p99 / 1000, "non2xx": float(bad)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.restwrk", description=__doc__.splitlines()[0])
    parser.add_argument("--target", action="append", required=True, help="NAME=URL of a running api (repeatable)")
    parser.add_argument("--connections", default="4,16")
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--chats", type=int, default=20)
    parser.add_argument("--messages", type=int, default=50)
    parser.add_argument("--endpoints", default=",".join(ENDPOINTS))
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    targets = dict(t.split("=", 1) for t in args.target)
    setups = {name: prepare(url, args.chats, args.messages) for name, url in targets.items()}
    results: dict[tuple[str, str, int], list[dict[str, float]]] = {}
    for rnd in range(args.rounds):
        for endpoint in args.endpoints.split(","):
            for conns in (int(c) for c in args.connections.split(",")):
                for name, url in targets.items():
                    path = ENDPOINTS[endpoint].format(chat_id=setups[name]["chat_id"])
                    figures = run_wrk(url.rstrip("/") + path, setups[name]["token"], conns, args.duration)
                    results.setdefault((endpoint, name, conns), []).append(figures)
                    print(f"round {rnd + 1} {endpoint} c={conns} {name}: {figures}", file=sys.stderr, flush=True)
    print(_table(results, list(targets)))
    return 0


def _table(results: dict[tuple[str, str, int], list[dict[str, float]]], names: list[str]) -> str:
    lines = [
        "| endpoint | conns | target | RPS (median) | ratio | p50 ms | p95 ms | p99 ms | non-2xx |",
        "|" + "---|" * 9,
    ]
    medians: dict[tuple[str, str, int], dict[str, Any]] = {
        key: {k: statistics.median(r[k] for r in runs) for k in runs[0]} for key, runs in results.items()
    }
    for endpoint, name, conns in sorted(medians, key=lambda k: (list(ENDPOINTS).index(k[0]), k[2], names.index(k[1]))):
        m = medians[(endpoint, name, conns)]
        ratio = m["rps"] / medians[(endpoint, names[0], conns)]["rps"]
        lines.append(
            f"| {endpoint} | {conns} | {name} | {m['rps']:.0f} | {ratio:.2f}x | {m['p50']:.1f} | {m['p95']:.1f} "
            f"| {m['p99']:.1f} | {m['non2xx']:.0f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
