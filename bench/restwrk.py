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
from dataclasses import dataclass
from typing import Any

import httpx

ENDPOINTS = {
    "health": "/health/live",
    "me": "/api/v1/users/me",
    "chats": "/api/v1/chats?limit=20",
    "history": "/api/v1/chats/{chat_id}/messages?limit=50",
}


@dataclass(frozen=True)
class Target:
    """A running api and what a request to it needs: a Bearer token and the chat of the history page."""

    name: str
    url: str
    token: str
    chat_id: str


@dataclass(frozen=True)
class Seeded:
    user_id: str
    token: str
    chat_id: str  # the chat with ``messages`` messages


def prepare(api: str, chats: int, messages: int) -> Seeded:
    """A fresh user with ``chats`` chats (the first with ``messages`` messages, the others one each)."""
    with httpx.Client(base_url=api.rstrip("/"), timeout=30) as http:

        def user() -> tuple[str, str]:
            body = {"username": f"wrk{uuid.uuid4().hex[:12]}", "password": f"Wrk-{uuid.uuid4().hex}"}
            user_id = http.post("/api/v1/auth/register", json=body).raise_for_status().json()["id"]
            return user_id, http.post("/api/v1/auth/login", json=body).raise_for_status().json()["token"]

        user_id, token = user()
        headers = {"Authorization": f"Bearer {token}"}
        history_chat = ""
        for index in range(chats):
            partner_id, _ = user()
            chat_id = http.post("/api/v1/chats", json={"partner_id": partner_id}, headers=headers).json()["id"]
            history_chat = history_chat or chat_id
            for m in range(messages if index == 0 else 1):
                body = {"text": f"message {m}", "request_id": str(uuid.uuid4())}
                http.post(f"/api/v1/chats/{chat_id}/messages", json=body, headers=headers).raise_for_status()
    return Seeded(user_id, token, history_chat)


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


Results = dict[tuple[str, str, int], list[dict[str, float]]]


def measure(targets: list[Target], endpoints: list[str], connections: list[int], duration: int, rounds: int) -> Results:
    """wrk on every target in turn for each round, endpoint and connection count (noise falls on all alike)."""
    results: Results = {}
    for rnd in range(rounds):
        for endpoint in endpoints:
            for conns in connections:
                for target in targets:
                    url = target.url.rstrip("/") + ENDPOINTS[endpoint].format(chat_id=target.chat_id)
                    figures = run_wrk(url, target.token, conns, duration)
                    results.setdefault((endpoint, target.name, conns), []).append(figures)
                    print(f"round {rnd + 1} {endpoint} c={conns} {target.name}: {figures}", file=sys.stderr, flush=True)
    return results


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
    targets = []
    for name, url in (t.split("=", 1) for t in args.target):
        seeded = prepare(url, args.chats, args.messages)
        targets.append(Target(name, url, seeded.token, seeded.chat_id))
    connections = [int(c) for c in args.connections.split(",")]
    results = measure(targets, args.endpoints.split(","), connections, args.duration, args.rounds)
    print(table(results, [t.name for t in targets]))
    return 0


def _medians(results: Results) -> dict[tuple[str, str, int], dict[str, Any]]:
    return {key: {k: statistics.median(r[k] for r in runs) for k in runs[0]} for key, runs in results.items()}


def _verdict(met: bool) -> str:
    return "met" if met else "NOT met"


def targets(results: Results, names: list[str]) -> list[str]:
    """The REST targets (issue 16) for the first target against the others, from the medians; one line each."""
    medians = _medians(results)
    ours = names[0]

    def figure(endpoint: str, conns: int, key: str = "rps") -> float | None:
        found = medians.get((endpoint, ours, conns))
        return None if found is None else float(found[key])

    lines = []
    rps4, p95_4, rps16 = figure("chats", 4), figure("chats", 4, "p95"), figure("chats", 16)
    if rps4 is not None and p95_4 is not None:
        lines.append(
            f"chat list, 4 conns: {rps4:.0f} RPS, p95 {p95_4:.1f} ms (>= 300, <= 20 ms): "
            + _verdict(rps4 >= 300 and p95_4 <= 20)
        )
    if rps16 is not None:
        lines.append(f"chat list, 16 conns: {rps16:.0f} RPS (>= 500): {_verdict(rps16 >= 500)}")
    for conns in sorted({c for (_, name, c) in medians if name == ours}):
        me, health = figure("me", conns), figure("health", conns)
        if me is not None and health:
            share = me / health
            lines.append(f"/users/me over /health/live, {conns} conns: {share:.0%} (>= 80%): {_verdict(share >= 0.8)}")
    ratios = [
        medians[(endpoint, ours, conns)]["rps"] / m["rps"]
        for (endpoint, name, conns), m in medians.items()
        if name != ours and m["rps"] and (endpoint, ours, conns) in medians
    ]
    if ratios:
        lines.append(
            f"every endpoint over each baseline: lowest {min(ratios):.2f}x (>= 2x): {_verdict(min(ratios) >= 2)}"
        )
    return lines


def table(results: Results, names: list[str], *, first_over: bool = False) -> str:
    """Medians over the rounds; the ratio is each target's RPS to the first's, or (``first_over``) the first's to it."""
    heading = f"{names[0]} / this" if first_over else f"this / {names[0]}"
    lines = [
        f"| endpoint | conns | target | RPS (median) | {heading} | p50 ms | p95 ms | p99 ms | non-2xx |",
        "|" + "---|" * 9,
    ]
    medians = _medians(results)
    for endpoint, name, conns in sorted(medians, key=lambda k: (list(ENDPOINTS).index(k[0]), k[2], names.index(k[1]))):
        m = medians[(endpoint, name, conns)]
        first = medians[(endpoint, names[0], conns)]["rps"]
        ratio = (first / m["rps"] if first_over else m["rps"] / first) if m["rps"] and first else float("nan")
        lines.append(
            f"| {endpoint} | {conns} | {name} | {m['rps']:.0f} | {ratio:.2f}x | {m['p50']:.1f} | {m['p95']:.1f} "
            f"| {m['p99']:.1f} | {m['non2xx']:.0f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
