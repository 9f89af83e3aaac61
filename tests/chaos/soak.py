"""The soak: steady, moderate load for a long time; memory must stay flat and nothing may fail.

``python -m tests.chaos.soak --minutes 30`` (``make soak``) runs the chaos
suite's stack (private PostgreSQL and Redis, the three processes under the
supervisor) and its contract-following clients, with no fault: ``users``
clients send ``rate`` msg/s (a share over REST), and every ``churn`` seconds a
tenth of them disconnect and reconnect (resyncing through ``after_id``), so
connection setup and teardown are soaked too.

Every ``window`` seconds it records each process's RSS and CPU, Redis's
``used_memory`` and the window's acknowledgements and ack latency. At the end
it drains, resyncs every client and runs the chaos checks (each acknowledged
message stored once, no ``seq`` gap, clients hold exactly the database), and
scans the logs. Memory is judged after a warm-up (the first ``warmup_share`` of
the run: pools, caches and allocator arenas fill up): the growth from the
median of the first post-warm-up windows to the median of the last ones must
stay within ``max(growth_mib, growth_share x start)``.

Exit status 1 on any loss, duplicate, logged error or memory growth beyond that.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import signal
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import redis.asyncio as aredis

from bench.hist import Histogram
from bench.procstat import cpu_seconds, rss_bytes
from tests.chaos.load import LoadDriver, Outgoing, now
from tests.chaos.runner import Result, scan_logs, summarize_stats, verify_database
from tests.chaos.supervisor import APP_PROCESSES, Supervisor

MIB = 1024 * 1024


@dataclass
class SoakConfig:
    minutes: float = 30.0
    users: int = 100
    rate: float = 50.0
    rest_fraction: float = 0.1
    window: float = 30.0  # seconds per sample row
    churn: float = 60.0  # every this many seconds a tenth of the clients reconnect
    warmup_share: float = 0.2
    growth_mib: float = 16.0
    growth_share: float = 0.10
    drain_timeout: float = 60.0


@dataclass
class Window:
    t: float  # seconds since the load started
    sent: int
    acked: int
    ack_p50_ms: float
    ack_p95_ms: float
    ack_max_ms: float
    connected: int
    reconnects: int
    rss_mib: dict[str, float]
    cpu_pct: dict[str, float]
    redis_used_mib: float


@dataclass
class Growth:
    name: str
    start_mib: float
    end_mib: float
    max_mib: float
    slope_mib_per_hour: float
    allowed_mib: float

    @property
    def growth_mib(self) -> float:
        return self.end_mib - self.start_mib

    @property
    def ok(self) -> bool:
        return self.growth_mib <= self.allowed_mib


@dataclass
class SoakReport:
    config: SoakConfig
    windows: list[Window] = field(default_factory=list)
    growth: list[Growth] = field(default_factory=list)
    result: Result = field(default_factory=lambda: Result("soak"))
    log_problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.result.ok and not self.log_problems and all(g.ok for g in self.growth)


def _slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MiB), in MiB per hour."""
    if len(points) < 2:
        return 0.0
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return 0.0 if den == 0 else 3600 * sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den


def judge_memory(windows: list[Window], cfg: SoakConfig) -> list[Growth]:
    """Per process: post-warm-up start vs end (medians of a few windows each) and the trend."""
    settled = windows[int(len(windows) * cfg.warmup_share) :] or windows
    span = max(1, min(3, len(settled) // 3))
    names = [*APP_PROCESSES, "redis"] if settled else []
    growth = []
    for name in names:

        def rss(w: Window, name: str = name) -> float:
            return w.redis_used_mib if name == "redis" else w.rss_mib.get(name, 0.0)

        start = statistics.median(rss(w) for w in settled[:span])
        end = statistics.median(rss(w) for w in settled[-span:])
        allowed = max(cfg.growth_mib, cfg.growth_share * start)
        growth.append(Growth(name, start, end, max(rss(w) for w in settled), _slope([(w.t, rss(w)) for w in settled]),
                             allowed))  # fmt: skip
    return growth


class Sampler:
    """RSS / CPU of the supervisor's processes (whatever pid each has now) and Redis memory."""

    def __init__(self, sup: Supervisor) -> None:
        self.sup = sup
        self.kv = aredis.Redis.from_url(sup.redis.url, socket_timeout=2)
        self.last: dict[str, tuple[int, float, float]] = {}  # name -> (pid, monotonic, cpu seconds)

    def _pids(self) -> dict[str, int]:
        pids = {}
        for name in APP_PROCESSES:
            popen = self.sup.procs[name].popen
            if popen is not None and popen.poll() is None:
                pids[name] = popen.pid
        return pids

    async def sample(self) -> tuple[dict[str, float], dict[str, float], float]:
        rss, cpu = {}, {}
        for name, pid in self._pids().items():
            value, seconds, moment = rss_bytes(pid), cpu_seconds(pid), time.monotonic()
            if value is None or seconds is None:
                continue
            rss[name] = round(value / MIB, 1)
            before = self.last.get(name)
            if before is not None and before[0] == pid and moment > before[1]:
                cpu[name] = round(100 * (seconds - before[2]) / (moment - before[1]), 1)
            self.last[name] = (pid, moment, seconds)
        try:
            used = int((await self.kv.info("memory"))["used_memory"]) / MIB
        except Exception:
            used = 0.0
        return rss, cpu, round(used, 1)

    async def aclose(self) -> None:
        await self.kv.aclose()


async def churn(driver: LoadDriver, every: float, stop: asyncio.Event) -> None:
    """Every ``every`` s a tenth of the clients drop their socket and come back (resync included)."""
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), every)
            return
        except TimeoutError:
            pass
        for client in random.sample(driver.clients, max(1, len(driver.clients) // 10)):
            await client.close()
            client.start()
            client.request_resync(force=True)


def _window_stats(outgoing: list[Outgoing], since: float, until: float) -> tuple[int, int, Histogram]:
    hist = Histogram()
    sent = acked = 0
    for out in outgoing:
        if since <= out.scheduled < until:
            sent += 1
            if out.acked_at is not None:
                acked += 1
                hist.record(out.acked_at - out.scheduled)
    return sent, acked, hist


async def _record_windows(
    driver: LoadDriver, sampler: Sampler, *, cfg: SoakConfig, started: float, report: SoakReport, log: Any
) -> None:
    deadline = started + cfg.minutes * 60
    await sampler.sample()  # CPU baseline
    since = started
    while now() < deadline:
        await asyncio.sleep(min(cfg.window, max(0.0, deadline - now())))
        until = now()
        # Acks of the window's sends may still be on their way: count those of the window before.
        sent, acked, hist = _window_stats(list(driver.outgoing.values()), since - cfg.window, since)
        rss, cpu, redis_mib = await sampler.sample()
        summary = hist.summary_ms()
        window = Window(
            t=round(until - started, 1), sent=sent, acked=acked, ack_p50_ms=summary["p50_ms"],
            ack_p95_ms=summary["p95_ms"], ack_max_ms=summary["max_ms"],
            connected=sum(c.connected for c in driver.clients), reconnects=driver.stats.connects, rss_mib=rss,
            cpu_pct=cpu, redis_used_mib=redis_mib,
        )  # fmt: skip
        report.windows.append(window)
        log(format_window(window))
        since = until


async def run_soak(cfg: SoakConfig, log_dir: Path, log: Any = print) -> SoakReport:
    report = SoakReport(cfg)
    sup = Supervisor(log_dir)
    try:
        await asyncio.to_thread(sup.start)
        driver = LoadDriver(sup.url("api"), sup.ws_url, users=cfg.users, rate=cfg.rate, rest_fraction=cfg.rest_fraction)
        sampler = Sampler(sup)
        try:
            await driver.setup()
            await driver.connect_all()
            log(f"soak: {cfg.users} users, {cfg.rate:.0f} msg/s ({cfg.rest_fraction:.0%} REST), "
                f"{cfg.minutes:g} min, a tenth reconnect every {cfg.churn:.0f}s; logs in {log_dir}")  # fmt: skip
            log(WINDOW_HEADER + "  (* of the sends due in the window before the row's, so their acks had time)")
            stop = asyncio.Event()
            started = now()
            load = asyncio.create_task(driver.run(stop, "soak"))
            churner = asyncio.create_task(churn(driver, cfg.churn, stop))
            try:
                await _record_windows(driver, sampler, cfg=cfg, started=started, report=report, log=log)
            finally:
                stop.set()
                report.result.sent = await load
                await churner
            await _verify(sup, driver, cfg, report)
        finally:
            await sampler.aclose()
            await driver.aclose()
    finally:
        await asyncio.to_thread(sup.close)
    report.growth = judge_memory(report.windows, cfg)
    report.log_problems = [
        f"{name}: {count}x {line}"
        for name, counts in scan_logs(log_dir).items()
        for line, count in counts.items()
        if not line.startswith("WARNING")
    ]
    return report


async def _verify(sup: Supervisor, driver: LoadDriver, cfg: SoakConfig, report: SoakReport) -> None:
    result = report.result
    drained = await driver.drain(cfg.drain_timeout)
    failed = await driver.final_resync()
    phase = list(driver.outgoing.values())
    result.acked = sum(o.acked_at is not None for o in phase)
    result.unacked = len(phase) - result.acked
    summarize_stats(driver.stats, result)
    await asyncio.to_thread(verify_database, sup, driver, phase, result)
    if not drained:
        result.problems.append(f"{result.unacked} messages never acknowledged within {cfg.drain_timeout:.0f}s")
    if failed:
        result.problems.append(f"{failed} clients could not resync at the end")


WINDOW_HEADER = (
    "| t (s) | sent* | acked* | ack p50 / p95 / max (ms) | connected | connects | "
    + " | ".join(f"{name} RSS MiB (CPU %)" for name in APP_PROCESSES)
    + " | Redis used MiB |"
)


def format_window(w: Window) -> str:
    procs = " | ".join(f"{w.rss_mib.get(n, 0):.1f} ({w.cpu_pct.get(n, 0):.0f})" for n in APP_PROCESSES)
    latency = f"{w.ack_p50_ms:.0f} / {w.ack_p95_ms:.0f} / {w.ack_max_ms:.0f}"
    return f"| {w.t:.0f} | {w.sent} | {w.acked} | {latency} | {w.connected} | {w.reconnects} | {procs} | {w.redis_used_mib:.1f} |"


def format_summary(report: SoakReport) -> str:
    r = report.result
    lines = [
        f"sent {r.sent}, acknowledged {r.acked}, lost {r.lost}, duplicated {r.duplicated}, "
        f"seq gaps {r.seq_gaps}, client mismatches {r.client_mismatches}, reconnects {r.reconnects}",
        "| process | RSS after warm-up (MiB) | RSS at end (MiB) | growth (MiB) | allowed (MiB) | max (MiB) "
        "| trend (MiB/h) | ok |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for g in report.growth:
        lines.append(
            f"| {g.name} | {g.start_mib:.1f} | {g.end_mib:.1f} | {g.growth_mib:+.1f} | {g.allowed_mib:.1f} "
            f"| {g.max_mib:.1f} | {g.slope_mib_per_hour:+.1f} | {'yes' if g.ok else 'NO'} |"
        )
    lines += [f"! {p}" for p in r.problems[:20] + report.log_problems[:20]]
    lines.append("soak: " + ("OK" if report.ok else "FAILED"))
    return "\n".join(lines)


def _sigterm(signum: int, frame: object) -> None:
    signal.raise_signal(signal.SIGINT)  # stop like Ctrl-C: the private stack goes away


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos.soak", description=__doc__.splitlines()[0])
    defaults = SoakConfig()
    for name in ("minutes", "users", "rate", "rest_fraction", "window", "churn", "growth_mib", "growth_share"):
        kind = int if name == "users" else float
        parser.add_argument(f"--{name.replace('_', '-')}", type=kind, default=getattr(defaults, name))
    parser.add_argument("--log-dir", type=Path)
    parser.add_argument("--json", type=Path, help="also write the windows and the verdict as JSON")
    args = parser.parse_args(argv)
    cfg = SoakConfig(**{k: v for k, v in vars(args).items() if k not in ("log_dir", "json")})
    log_dir = args.log_dir or Path(tempfile.mkdtemp(prefix="neonchat-soak-logs-"))
    signal.signal(signal.SIGTERM, _sigterm)
    report = asyncio.run(run_soak(cfg, log_dir, lambda line: print(line, flush=True)))
    print()
    print(format_summary(report))
    if args.json:
        args.json.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
