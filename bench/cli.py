"""Command line: ``python -m bench {messages,connections,rest,smoke,group,compare} ...``."""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from typing import Any

from bench import group, scenarios
from bench.procstat import cpu_seconds, resolve
from bench.targets import Baseline, NeonChat

DEFAULT_API = "http://127.0.0.1:8080"
DEFAULT_WS = "ws://127.0.0.1:8082/ws"


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--api", default=DEFAULT_API, help="NeonChat REST base URL")
    parser.add_argument("--ws", default=DEFAULT_WS, help="NeonChat WebSocket URL")
    parser.add_argument(
        "--baseline",
        metavar="[NAME=]WS",
        action="append",
        default=[],
        help="a Channels-tutorial baseline at WS (e.g. pubsub=ws://127.0.0.1:8120); repeat for several",
    )
    parser.add_argument("--pids", help="server processes to sample, name=pid,... ")
    parser.add_argument(
        "--ports",
        help="find NeonChat processes by listening port, name=port,... (default: api and gateway from --api/--ws; "
        "the baseline's daphne is always found from --baseline)",
    )
    parser.add_argument("--json", metavar="PATH", help="also write the result as JSON")


def _messages_args(parser: argparse.ArgumentParser, pairs: int, rate: float, duration: float) -> None:
    parser.add_argument("--pairs", type=int, default=pairs, help="user pairs, one connection per user")
    parser.add_argument("--rate", type=float, default=rate, help="offered msg/s over all pairs")
    parser.add_argument("--duration", type=float, default=duration, help="seconds of load")
    parser.add_argument("--drain", type=float, default=15.0, help="seconds to wait for late acks/deliveries")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    sub = parser.add_subparsers(dest="scenario", required=True)
    p = sub.add_parser("messages", help="open-model message load over N pairs")
    _common(p)
    _messages_args(p, 100, 100.0, 60.0)
    p = sub.add_parser("smoke", help="20 pairs, 100 msg/s, 20 s; exit 1 unless lost == 0")
    _common(p)
    _messages_args(p, 20, 100.0, 20.0)
    p = sub.add_parser("connections", help="open C idle WebSockets, report gateway RSS per connection")
    _common(p)
    p.add_argument("--count", type=int, default=1000)
    p.add_argument("--hold", type=float, default=10.0, help="seconds to hold them open before measuring")
    p.add_argument("--gateway-name", default="gateway", help="which sampled process is the WebSocket server")
    p = sub.add_parser("rest", help="GET chat list / history mix at R RPS")
    _common(p)
    p.add_argument("--pairs", type=int, default=50)
    p.add_argument("--rate", type=float, default=100.0)
    p.add_argument("--duration", type=float, default=60.0)
    p.add_argument("--seed-messages", type=int, default=30, help="messages stored per chat before the load")
    p.add_argument("--history-share", type=float, default=0.5, help="share of requests that read history")
    p = sub.add_parser("group", help="one group of M members, all connected, R msg/s into it (issue 17)")
    _common(p)
    p.add_argument("--members", type=int, default=256)
    p.add_argument("--rate", type=float, default=10.0)
    p.add_argument("--duration", type=float, default=30.0)
    p.add_argument("--drain", type=float, default=15.0)
    p = sub.add_parser("compare", help="messages scenario, baseline vs NeonChat, medians of --repeat runs per rate")
    _common(p)
    p.add_argument("--pairs", type=int, default=100)
    p.add_argument("--rates", default="100,200,500")
    p.add_argument("--duration", type=float, default=30.0)
    p.add_argument("--drain", type=float, default=15.0)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--pause", type=float, default=3.0, help="seconds between runs")
    return parser


def _port(url: str) -> str:
    hostport = url.split("://", 1)[-1].split("/", 1)[0]
    return hostport.rsplit(":", 1)[1] if ":" in hostport else ("443" if url.startswith(("https", "wss")) else "80")


def baselines(args: argparse.Namespace) -> dict[str, str]:
    """``--baseline`` values as ``{name: ws url}`` (unnamed: ``baseline``)."""
    named = {}
    for value in args.baseline:
        name, _, url = value.rpartition("=") if "=" in value.split("://", 1)[0] else ("", "", value)
        named[name or "baseline"] = url
    return named


def _procs(args: argparse.Namespace, baseline: str | None) -> dict[str, int]:
    if baseline:  # --pids/--ports describe the NeonChat processes
        return resolve(None, f"daphne={_port(baseline)}")
    ports = args.ports
    if not ports and not args.pids:
        ports = f"api={_port(args.api)},gateway={_port(args.ws)}"
    return resolve(args.pids, ports)


def _target(args: argparse.Namespace, baseline: str | None) -> NeonChat | Baseline:
    return Baseline(baseline) if baseline else NeonChat(args.api, args.ws)


# ---- output -------------------------------------------------------------------


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    cells = [[str(h) for h in headers]] + [["" if v is None else str(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in cells]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def _proc_table(procs: list[dict[str, Any]]) -> str:
    rows = [
        [p["name"], p["pid"], p["cpu_pct_mean"], p["cpu_pct_peak_1s"], p["rss_start_mib"], p["rss_max_mib"], p["alive"]]
        for p in procs
    ]
    return _table(["process", "pid", "CPU % mean", "CPU % peak 1s", "RSS start MiB", "RSS max MiB", "alive"], rows)


def print_messages(r: dict[str, Any]) -> None:
    a, d = r["ack_latency"], r["delivery_latency"]
    print(
        f"\n== messages: {r['target']}  pairs={r['pairs']} connections={r['connections']} "
        f"offered={r['offered_rate']} msg/s x {r['duration_s']} s (setup {r['setup_s']} s)"
    )
    rows = [
        ["ack", r["achieved_ack_rate"], a["count"], a["p50_ms"], a["p95_ms"], a["p99_ms"], a["max_ms"]],
        ["delivery", r["achieved_delivery_rate"], d["count"], d["p50_ms"], d["p95_ms"], d["p99_ms"], d["max_ms"]],
    ]
    print(_table(["latency from intended send", "achieved/s", "n", "p50 ms", "p95 ms", "p99 ms", "max ms"], rows))
    print(
        f"never acked: {r['never_acked']}  acked-not-delivered-live: {r['acked_not_delivered_live']}  "
        f"duplicates: {r['duplicates']}  errors: {r['errors'] or 0}  open at end: {r['connections_open_at_end']}"
    )
    print(f"LOST ({r['lost_definition']}): {r['lost']}   verify: {r['verify']}")
    print(f"harness scheduler lag p99 {r['scheduler_lag']['p99_ms']} ms, max {r['scheduler_lag']['max_ms']} ms")
    print(_proc_table(r["processes"]))


def print_connections(r: dict[str, Any]) -> None:
    print(f"\n== connections: {r['target']}  requested={r['requested']} opened={r['opened']}")
    rows = [
        [
            r["opened"],
            r["still_open_after_hold"],
            r["connect_s"],
            r["connect_latency"]["p99_ms"],
            r["gateway_rss_before_mib"],
            r["gateway_rss_after_mib"],
            r["gateway_kib_per_connection"],
        ]
    ]
    print(
        _table(
            ["opened", "open after hold", "connect s", "connect p99 ms", "RSS before", "RSS after", "KiB/conn"], rows
        )
    )
    print(f"errors: {r['errors'] or 0}")
    print(_proc_table(r["processes"]))


def print_rest(r: dict[str, Any]) -> None:
    print(
        f"\n== rest: {r['target']}  offered={r['offered_rate']} RPS x {r['duration_s']} s  "
        f"achieved={r['achieved_rate']}"
    )
    rows = [
        [name, h["count"], h["p50_ms"], h["p95_ms"], h["p99_ms"], h["max_ms"]]
        for name, h in (("all", r["latency"]), ("chat list", r["latency_chat_list"]), ("history", r["latency_history"]))
    ]
    print(_table(["requests", "n", "p50 ms", "p95 ms", "p99 ms", "max ms"], rows))
    print(f"statuses: {r['statuses']}  errors: {r['error_total']}")
    print(_proc_table(r["processes"]))


# ---- compare ------------------------------------------------------------------

METRICS = [
    ("achieved_delivery_rate", lambda r: r["achieved_delivery_rate"]),
    ("ack_p50", lambda r: r["ack_latency"]["p50_ms"]),
    ("ack_p95", lambda r: r["ack_latency"]["p95_ms"]),
    ("ack_p99", lambda r: r["ack_latency"]["p99_ms"]),
    ("ack_max", lambda r: r["ack_latency"]["max_ms"]),
    ("del_p50", lambda r: r["delivery_latency"]["p50_ms"]),
    ("del_p95", lambda r: r["delivery_latency"]["p95_ms"]),
    ("del_p99", lambda r: r["delivery_latency"]["p99_ms"]),
    ("del_max", lambda r: r["delivery_latency"]["max_ms"]),
    ("errors", lambda r: r["error_total"]),
    ("lost", lambda r: r["lost"]),
]


def _median_row(runs: list[dict[str, Any]]) -> dict[str, Any]:
    row = {name: statistics.median(get(r) for r in runs) for name, get in METRICS}
    row["lost_max"] = max(r["lost"] for r in runs)
    row["runs"] = len(runs)
    cpu: dict[str, list[float]] = {}
    for r in runs:
        for p in r["processes"]:
            if p["cpu_pct_mean"] is not None:
                cpu.setdefault(p["name"], []).append(p["cpu_pct_mean"])
    row["cpu"] = {k: round(statistics.median(v), 1) for k, v in cpu.items()}
    return row


async def quiesce(procs: dict[str, int], *, threshold: float = 5.0, limit: float = 180.0) -> float:
    """Wait until every server process is (nearly) idle, so one run's backlog cannot slow the next."""
    started = time.monotonic()
    last = {name: cpu_seconds(pid) for name, pid in procs.items()}
    while time.monotonic() - started < limit:
        await asyncio.sleep(1.0)
        now = {name: cpu_seconds(pid) for name, pid in procs.items()}
        busy = [
            n
            for n, cpu in now.items()
            if cpu is not None and (prev := last[n]) is not None and (cpu - prev) * 100 > threshold
        ]
        last = now
        if not busy:
            break
    return round(time.monotonic() - started, 1)


def _ratios(medians: dict[str, dict[str, dict[str, Any]]], baseline: str, rate: float) -> str:
    ours, theirs = medians["neonchat"][str(rate)], medians[baseline][str(rate)]

    def ratio(key: str) -> str:
        return f"{ours[key] / theirs[key]:.2f}x" if theirs[key] else "-"

    return (
        f"{rate:g} msg/s: delivered/s {ratio('achieved_delivery_rate')}, delivery p95 {ratio('del_p95')} "
        f"({ours['del_p95']:g} vs {theirs['del_p95']:g} ms), lost {ours['lost']:g} vs {theirs['lost']:g}"
    )


async def compare(args: argparse.Namespace) -> dict[str, Any]:
    rates = [float(x) for x in args.rates.split(",")]
    others = baselines(args)
    targets: list[tuple[str, str | None]] = [*others.items(), ("neonchat", None)]
    runs: dict[str, dict[float, list[dict[str, Any]]]] = {name: {rate: [] for rate in rates} for name, _ in targets}
    for rate in rates:
        for rep in range(args.repeat):
            for name, baseline in targets:
                print(f"-- {name} {rate} msg/s run {rep + 1}/{args.repeat}", file=sys.stderr, flush=True)
                result = await scenarios.messages(
                    _target(args, baseline),
                    pairs_n=args.pairs,
                    rate=rate,
                    duration=args.duration,
                    drain=args.drain,
                    procs=_procs(args, baseline),
                )
                print_messages(result)
                runs[name][rate].append(result)
                await asyncio.sleep(args.pause)
                servers: dict[str, int] = {}
                for url in [*others.values(), None]:
                    servers.update({f"{k}-{url}" if url else k: v for k, v in _procs(args, url).items()})
                result["quiesce_s"] = await quiesce(servers)
                print(f"servers idle again after {result['quiesce_s']} s", flush=True)
    medians = {name: {str(rate): _median_row(rs) for rate, rs in by_rate.items()} for name, by_rate in runs.items()}
    print(f"\n== medians of {args.repeat} runs, {args.pairs} pairs, {args.duration} s each")
    headers = ["target", "offered/s"] + [m for m, _ in METRICS] + ["lost max", "server CPU %"]
    rows = []
    for rate in rates:
        for name, _ in targets:
            m = medians[name][str(rate)]
            rows.append([name, rate] + [m[k] for k, _ in METRICS] + [m["lost_max"], m["cpu"]])
    print(_table(headers, rows))
    for baseline in others:
        print(f"\nNeonChat / {baseline}: " + "; ".join(_ratios(medians, baseline, rate) for rate in rates))
    return {"scenario": "compare", "rates": rates, "pairs": args.pairs, "medians": medians, "runs": runs}


async def run(args: argparse.Namespace) -> tuple[dict[str, Any], int]:
    baseline = next(iter(baselines(args).values()), None)
    if args.scenario == "compare":
        return await compare(args), 0
    target = _target(args, baseline)
    procs = _procs(args, baseline)
    if args.scenario in ("messages", "smoke"):
        result = await scenarios.messages(
            target, pairs_n=args.pairs, rate=args.rate, duration=args.duration, drain=args.drain, procs=procs
        )
        print_messages(result)
        if args.scenario == "smoke":
            ok = result["lost"] == 0 and result["acked"] > 0 and result["verify"].get("seq_gaps", 0) == 0
            print(f"\nSMOKE {'PASS' if ok else 'FAIL'}: lost={result['lost']} acked={result['acked']}")
            return result, 0 if ok else 1
        return result, 0
    if args.scenario == "group":
        if baseline:
            raise SystemExit("the group scenario needs NeonChat")
        assert isinstance(target, NeonChat)
        result = await group.group(
            target, members=args.members, rate=args.rate, duration=args.duration, drain=args.drain, procs=procs
        )
        print(json.dumps({k: v for k, v in result.items() if k != "processes"}, indent=2))
        print(_proc_table(result["processes"]))
        return result, 0
    if args.scenario == "connections":
        gateway = args.gateway_name if not baseline else "daphne"
        result = await scenarios.connections(target, count=args.count, hold=args.hold, procs=procs, gateway=gateway)
        print_connections(result)
        return result, 0
    if baseline:
        raise SystemExit("the rest scenario needs NeonChat (the baseline has no REST API)")
    assert isinstance(target, NeonChat)
    result = await scenarios.rest(
        target,
        pairs_n=args.pairs,
        rate=args.rate,
        duration=args.duration,
        seed_messages=args.seed_messages,
        history_share=args.history_share,
        procs=procs,
    )
    print_rest(result)
    return result, 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        import uvloop

        loop_factory: Any = uvloop.new_event_loop
    except ImportError:
        loop_factory = None
    started = time.time()
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        result, code = runner.run(run(args))
    result["command"] = " ".join(["python -m bench", *(argv if argv is not None else sys.argv[1:])])
    result["started_at"] = started
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=2, default=str)
    return code
