"""One fault at a time under steady load, then the checks.

For each fault: connect every client, run load, inject the fault (the
supervisor restarts killed processes; PostgreSQL and Redis are restarted by
the fault), wait for readiness and for every client to be back, keep the load
on for ``after`` seconds, stop it, let clients drain (retry unacknowledged
sends with the same ``request_id``) and resync, then check:

* every acknowledged message is in the database exactly once, by
  ``(sender_id, request_id)``, under the acknowledged id;
* every chat's ``seq`` is 1..``last_seq`` with no gap, and every client holds
  exactly the database's messages of its chat, in ``seq`` order;
* ``/health/ready`` of api and gateway is 200 again within ``ready_limit``
  seconds of the restart (the restarted process listening again, or the
  dependency started again);
* presence: while connected every user has ``online:{id}``; after everyone
  disconnects, no ``online:*`` key stays past the TTL.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import re
import signal
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import redis.asyncio as aredis

from tests.chaos.cluster import SupervisedCluster
from tests.chaos.load import LoadDriver, Outgoing, Stats, now
from tests.chaos.supervisor import Supervisor


@dataclass
class Config:
    users: int = 100
    rate: float = 100.0
    rest_fraction: float = 0.1
    warmup: float = 8.0  # load before the fault
    after: float = 10.0  # load after recovery
    stall: float = 10.0  # SIGSTOP duration
    dependency_down: float = 2.0  # PostgreSQL / Redis stay down this long
    drain_timeout: float = 60.0
    ready_limit: float = 5.0
    presence_ttl: int = 3
    heartbeat: float = 1.0
    faults: tuple[str, ...] = (
        "gateway-kill",
        "notifier-kill",
        "api-kill",
        "redis-restart",
        "pg-restart",
        "gateway-stall",
    )


SHORT = Config(users=40, rate=40.0, warmup=2.0, after=4.0, stall=6.0, dependency_down=1.0, drain_timeout=40.0)

# `make cluster` under supervisord, clients through HAProxy: one instance of each role killed in turn.
CLUSTER_FAULTS = ("gateway1-kill", "notifier1-kill", "api1-kill", "haproxy-kill", "redis-shard-kill")
CLUSTER = Config(faults=CLUSTER_FAULTS)
CLUSTER_SHORT = dataclasses.replace(SHORT, faults=CLUSTER_FAULTS)


# ---- readiness ---------------------------------------------------------------
class ReadinessMonitor:
    """Polls ``/health/ready`` of each process every ``interval`` seconds."""

    def __init__(self, urls: dict[str, str], interval: float = 0.1) -> None:
        self.urls, self.interval = urls, interval
        self.samples: dict[str, list[tuple[float, int, str]]] = {name: [] for name in urls}
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._poll(name, url)) for name, url in self.urls.items()]

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _poll(self, name: str, url: str) -> None:
        async with httpx.AsyncClient(timeout=0.5) as http:
            while not self._stop.is_set():
                try:
                    reply = await http.get(f"{url}/health/ready")
                    sample = (now(), reply.status_code, str(reply.json().get("status")))
                except (httpx.HTTPError, ValueError):
                    sample = (now(), 0, "down")
                self.samples[name].append(sample)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), self.interval)

    def first_all_ok(self, since: float, statuses: tuple[str, ...] = ("ready", "degraded")) -> float | None:
        """The first moment after ``since`` when every process's latest sample is 200 with ``statuses``."""
        merged = sorted((t, name, code, status) for name, rows in self.samples.items() for t, code, status in rows)
        latest: dict[str, tuple[float, int, str]] = {}
        for t, name, code, status in merged:
            latest[name] = (t, code, status)
            if t < since or len(latest) < len(self.samples):
                continue
            if all(s[0] >= since and s[1] == 200 and s[2] in statuses for s in latest.values()):
                return t
        return None


# ---- faults ------------------------------------------------------------------
@dataclass
class Injected:
    t_fault: float
    t_restored: float  # restarted process listening again / dependency started / SIGCONT
    detail: str = ""


def _kill(name: str) -> Callable[[Supervisor, Config], Awaitable[Injected]]:
    async def inject(sup: Supervisor, cfg: Config) -> Injected:
        t_fault = now()
        sup.signal(name, signal.SIGKILL)
        deadline = t_fault + 90
        while now() < deadline:
            done = [r for r in sup.restarts_since(t_fault, name) if r.listening_at is not None]
            if done:
                record = done[0]
                assert record.listening_at is not None
                spawn = record.started_at - t_fault
                boot = record.listening_at - record.started_at
                return Injected(t_fault, record.listening_at, f"respawned +{spawn:.1f}s, listening after {boot:.1f}s")
            await asyncio.sleep(0.05)
        raise TimeoutError(f"the supervisor did not bring {name} back")

    return inject


async def _redis_restart(sup: Supervisor, cfg: Config) -> Injected:
    t_fault = now()
    await asyncio.to_thread(sup.redis.restart, cfg.dependency_down)
    return Injected(t_fault, now(), f"SIGKILL, down {cfg.dependency_down:.0f}s, empty on restart")


async def _pg_restart(sup: Supervisor, cfg: Config) -> Injected:
    t_fault = now()
    await asyncio.to_thread(sup.pg.restart, "immediate", cfg.dependency_down)
    return Injected(t_fault, now(), f"pg_ctl -m immediate, down {cfg.dependency_down:.0f}s, crash recovery")


async def _gateway_stall(sup: Supervisor, cfg: Config) -> Injected:
    t_fault = now()
    sup.signal("gateway", signal.SIGSTOP)
    try:
        await asyncio.sleep(cfg.stall)
    finally:
        sup.signal("gateway", signal.SIGCONT)
    return Injected(t_fault, now(), f"SIGSTOP {cfg.stall:.0f}s then SIGCONT")


FAULTS: dict[str, Callable[[Supervisor, Config], Awaitable[Injected]]] = {
    "gateway-kill": _kill("gateway"),
    "notifier-kill": _kill("notifier"),
    "api-kill": _kill("api"),
    "redis-restart": _redis_restart,
    "pg-restart": _pg_restart,
    "gateway-stall": _gateway_stall,
    # make cluster only (tests.chaos.cluster): the twin instance carries the load meanwhile
    "gateway1-kill": _kill("gateway1"),
    "notifier1-kill": _kill("notifier1"),
    "api1-kill": _kill("api1"),
    "haproxy-kill": _kill("haproxy"),
    "redis-shard-kill": _kill("redis-shard"),
}


# ---- checks ------------------------------------------------------------------
@dataclass
class Result:
    fault: str
    detail: str = ""
    sent: int = 0
    acked: int = 0
    lost: int = 0
    duplicated: int = 0
    unacked: int = 0
    stored_unacked: int = 0
    ready_s: float | None = None
    full_ready_s: float | None = None
    recover_s: float | None = None
    max_ack_latency_s: float = 0.0
    reconnects: int = 0
    resyncs: int = 0
    rt_missed: int = 0
    seq_gaps: int = 0
    client_mismatches: int = 0
    presence_online_ok: bool = False
    presence_clear_s: float | None = None
    errors: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # loss, duplicates, inconsistency, readiness
    presence_problems: list[str] = field(default_factory=list)

    @property
    def delivery_ok(self) -> bool:
        return not self.problems

    @property
    def ok(self) -> bool:
        return not self.problems and not self.presence_problems


def verify_database(sup: Supervisor, driver: LoadDriver, phase: list[Outgoing], result: Result) -> None:
    """Acknowledged messages stored exactly once; seq 1..last_seq; clients hold exactly the database."""
    chat_ids = sorted({c.chat_id for c in driver.clients})
    with sup.pg.connect() as conn:
        rows = conn.execute(
            "SELECT chat_id::text, seq, id::text, sender_id::text, request_id::text, text FROM messages "
            "WHERE chat_id = ANY(%s::uuid[]) ORDER BY chat_id, seq",
            [chat_ids],
        ).fetchall()
        last_seq: dict[str, int] = {
            str(chat): int(str(seq))
            for chat, seq in conn.execute("SELECT id::text, last_seq FROM chats WHERE id = ANY(%s::uuid[])", [chat_ids])
        }
    by_request: dict[tuple[str, str], list[str]] = defaultdict(list)
    by_text: dict[str, int] = defaultdict(int)
    by_chat: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for chat_id, seq, message_id, sender_id, request_id, text in rows:
        by_request[(str(sender_id), str(request_id))].append(str(message_id))
        by_text[str(text)] += 1
        by_chat[str(chat_id)].append((int(str(seq)), str(message_id)))
    for out in phase:
        stored = by_request.get((out.sender_id, out.request_id), [])
        if len(stored) > 1 or by_text.get(out.text, 0) > 1:
            result.duplicated += 1
            result.problems.append(f"duplicated: {out.request_id} stored {len(stored)}x / text {by_text[out.text]}x")
        if out.acked_at is None:
            result.stored_unacked += bool(stored)
            continue
        if not stored or out.message_id not in stored:
            result.lost += 1
            result.problems.append(f"lost: acknowledged {out.request_id} as {out.message_id}, stored {stored}")
    for chat_id in chat_ids:
        seqs = [seq for seq, _ in by_chat[chat_id]]
        if seqs != list(range(1, len(seqs) + 1)) or last_seq.get(chat_id) != len(seqs):
            result.seq_gaps += 1
            result.problems.append(f"chat {chat_id}: seqs {seqs[:5]}.. ({len(seqs)}) last_seq {last_seq.get(chat_id)}")
    for client in driver.clients:
        expected = by_chat[client.chat_id]
        held = [(seq, client.held[seq]["id"]) for seq in sorted(client.held)]
        if held != expected:
            result.client_mismatches += 1
            missing = len(set(expected) - set(held))
            extra = len(set(held) - set(expected))
            result.problems.append(f"client {client.username}: {missing} missing, {extra} extra vs database")


def summarize_stats(stats: Stats, result: Result) -> None:
    result.reconnects = stats.connects
    result.resyncs = stats.resyncs
    result.errors = dict(stats.errors)
    for request_id, first, other in stats.ack_conflicts:
        result.duplicated += 1
        result.problems.append(f"duplicated: request {request_id} acknowledged as {first} and as {other}")
    for chat_id, seq, held, other in stats.seq_conflicts:
        result.duplicated += 1
        result.problems.append(f"chat {chat_id} seq {seq} seen as {held} and as {other}")


def realtime_missed(driver: LoadDriver, phase: list[Outgoing]) -> int:
    """Partner messages of this phase that a client only got from history (not pushed)."""
    ids = {o.message_id for o in phase if o.message_id}
    missed = 0
    for client in driver.clients:
        for seq, message in client.held.items():
            if message["id"] in ids and message["sender_id"] != client.user_id and client.source[seq] == "history":
                missed += 1
    return missed


async def online_keys(client: aredis.Redis, user_ids: list[str]) -> set[str]:
    values = await client.mget([f"online:{uid}" for uid in user_ids])
    return {uid for uid, value in zip(user_ids, values, strict=True) if value}


async def report_progress(driver: LoadDriver, fault: str, log: Callable[[str], None], every: float = 5.0) -> None:
    while True:
        await asyncio.sleep(every)
        st = driver.stats
        log(
            f"[{fault}] .. connected {sum(c.connected for c in driver.clients)}/{len(driver.clients)}, "
            f"unacked {len(driver.unacked())}, background {len(driver.background)}, connects {st.connects}, "
            f"resyncs {st.resyncs} (failed {st.resync_failures}), errors {dict(st.errors)}"
        )


async def presence_dump(kv: aredis.Redis, user_ids: list[str], limit: int = 5) -> list[str]:
    """What keeps users online: their key, connection set and each connection's key TTL."""
    lines = []
    for uid in sorted(await online_keys(kv, user_ids))[:limit]:
        members = sorted(str(m) for m in await kv.smembers(f"user:{uid}:ws_connections"))
        ttls = [await kv.ttl(f"ws_conn:{cid}") for cid in members]
        deadline = await kv.zscore("presence:deadlines", uid)
        lines.append(
            f"presence: online:{uid} = {await kv.get(f'online:{uid}')!r} ttl {await kv.ttl(f'online:{uid}')}; "
            f"connections {dict(zip(members, ttls, strict=True))}; deadline {deadline} (now {time.time():.0f})"
        )
    return lines


async def wait_for(predicate: Callable[[], Any], timeout: float, interval: float = 0.1) -> bool:
    deadline = now() + timeout
    while now() < deadline:
        if predicate():
            return True
        await asyncio.sleep(interval)
    return bool(predicate())


# ---- one phase ---------------------------------------------------------------
@dataclass
class Phase:
    sup: Supervisor
    driver: LoadDriver
    monitor: ReadinessMonitor
    cfg: Config
    log: Callable[[str], None]
    kv: aredis.Redis
    result: Result

    @property
    def user_ids(self) -> list[str]:
        return [c.user_id for c in self.driver.clients]


async def _inject_and_recover(ph: Phase, fault: str) -> tuple[Injected, float | None]:
    """Inject; wait for readiness and every client back; keep the load ``after`` seconds more."""
    cfg, monitor, result = ph.cfg, ph.monitor, ph.result
    await asyncio.sleep(cfg.warmup)
    ph.log(f"[{fault}] injecting")
    injected = await FAULTS[fault](ph.sup, cfg)
    result.detail = injected.detail
    await wait_for(lambda: monitor.first_all_ok(injected.t_restored) is not None, 60)
    t_ready = monitor.first_all_ok(injected.t_restored)
    if t_ready is not None:
        result.ready_s = max(0.0, t_ready - injected.t_restored)
    await wait_for(lambda: monitor.first_all_ok(injected.t_restored, ("ready",)) is not None, 30)
    t_full = monitor.first_all_ok(injected.t_restored, ("ready",))
    if t_full is not None:
        result.full_ready_s = max(0.0, t_full - injected.t_restored)
    await wait_for(lambda: all(c.connected for c in ph.driver.clients), 60)
    ph.log(f"[{fault}] recovered ({injected.detail}); load continues {cfg.after:.0f}s")
    await asyncio.sleep(cfg.after)
    users = ph.user_ids
    result.presence_online_ok = await wait_for_async(
        lambda: online_keys(ph.kv, users), lambda keys: len(keys) == len(users), 10
    )
    return injected, t_ready


async def _settle_and_verify(ph: Phase, phase: list[Outgoing], injected: Injected, t_ready: float | None) -> None:
    """Drain, final resync, database and client checks, time to recover."""
    driver, result, cfg = ph.driver, ph.result, ph.cfg
    drained = await driver.drain(cfg.drain_timeout)
    ph.log(f"[{result.fault}] final resync")
    failed = await driver.final_resync()
    result.acked = sum(o.acked_at is not None for o in phase)
    result.unacked = len(phase) - result.acked
    latencies = [o.acked_at - o.scheduled for o in phase if o.acked_at is not None]
    result.max_ack_latency_s = max(latencies, default=0.0)
    summarize_stats(driver.stats, result)
    await asyncio.to_thread(verify_database, ph.sup, driver, phase, result)
    result.rt_missed = realtime_missed(driver, phase)
    # Recovered: readiness back, every client reconnected, and no acknowledgement slower than 2 s after that.
    marks = [t_ready or now()]
    marks += [t for t in driver.stats.reconnected_at if t >= injected.t_fault]
    marks += [
        o.acked_at for o in phase if o.acked_at and o.acked_at - o.scheduled > 2 and o.acked_at >= injected.t_fault
    ]
    result.recover_s = max(marks) - injected.t_fault
    if not drained:
        result.problems.append(f"{result.unacked} messages never acknowledged within {cfg.drain_timeout:.0f}s")
    if failed:
        result.problems.append(f"{failed} clients could not resync at the end")
    if result.ready_s is None or result.ready_s > cfg.ready_limit:
        result.problems.append(f"readiness not 200 within {cfg.ready_limit:.0f}s of the restart ({result.ready_s})")
    if not result.presence_online_ok:
        result.presence_problems.append("presence: a connected user had no online:* key")


async def _presence_clears(ph: Phase, stuck_online: set[str]) -> None:
    """After every client closed: no ``online:*`` key past the TTL (users stuck by earlier phases aside)."""
    cfg, result, users = ph.cfg, ph.result, ph.user_ids
    t_closed = now()
    cleared = await wait_for_async(
        lambda: online_keys(ph.kv, users),
        lambda keys: not keys - stuck_online,
        cfg.presence_ttl + 3 * cfg.heartbeat + 10,
    )
    result.presence_clear_s = now() - t_closed if cleared else None
    if not cleared:
        stuck = await online_keys(ph.kv, users) - stuck_online
        result.presence_problems.append(
            f"presence: {len(stuck)} user(s) still online:* {now() - t_closed:.0f}s after every connection closed"
        )
        result.presence_problems.extend(await presence_dump(ph.kv, sorted(stuck)))
        stuck_online |= stuck


async def run_phase(
    sup: Supervisor,
    driver: LoadDriver,
    monitor: ReadinessMonitor,
    *,
    fault: str,
    cfg: Config,
    log: Callable[[str], None],
    stuck_online: set[str],
) -> Result:
    """One fault; ``stuck_online`` (users left online by earlier phases) is updated, not re-reported."""
    kv = aredis.Redis.from_url(sup.redis.url, decode_responses=True, socket_timeout=2)
    ph = Phase(sup, driver, monitor, cfg, log, kv, Result(fault))
    driver.stats = Stats()
    already = set(driver.outgoing)
    await driver.connect_all()
    stop = asyncio.Event()
    load = asyncio.create_task(driver.run(stop, fault))
    progress = asyncio.create_task(report_progress(driver, fault, log))
    try:
        injected, t_ready = await _inject_and_recover(ph, fault)
    finally:
        stop.set()
        ph.result.sent = await load
    log(f"[{fault}] load stopped after {ph.result.sent} messages; draining")
    try:
        phase = [o for rid, o in driver.outgoing.items() if rid not in already]
        await _settle_and_verify(ph, phase, injected, t_ready)
        log(f"[{fault}] verified; disconnecting, waiting for presence to clear")
        await driver.disconnect_all()
        await _presence_clears(ph, stuck_online)
    finally:
        progress.cancel()
        await kv.aclose()
    # Before the next fault: everything fully ready again.
    await wait_for(lambda: monitor.first_all_ok(now() - 0.3, ("ready",)) is not None, 60)
    return ph.result


async def wait_for_async(
    probe: Callable[[], Awaitable[Any]], accept: Callable[[Any], bool], timeout: float, interval: float = 0.25
) -> bool:
    deadline = now() + timeout
    while True:
        try:
            if accept(await probe()):
                return True
        except Exception:  # noqa: S110 - Redis may still be coming back
            pass
        if now() > deadline:
            return False
        await asyncio.sleep(interval)


# ---- everything --------------------------------------------------------------
async def run_all(
    cfg: Config, log_dir: Path, log: Callable[[str], None] = print, *, cluster: bool = False
) -> list[Result]:
    """Every fault of ``cfg`` in turn; ``cluster``: against ``make cluster`` (tests.chaos.cluster)."""
    sup: Supervisor | SupervisedCluster
    if cluster:
        sup = SupervisedCluster(log_dir, presence_ttl=cfg.presence_ttl, heartbeat=cfg.heartbeat)
    else:
        sup = Supervisor(log_dir, presence_ttl=cfg.presence_ttl, heartbeat=cfg.heartbeat)
    results: list[Result] = []
    try:
        started = time.monotonic()
        await asyncio.to_thread(sup.start)
        log(f"stack up in {time.monotonic() - started:.1f}s (PostgreSQL :{sup.pg.port}, Redis :{sup.redis.port}, "
            f"api {sup.url('api')}, gateway {sup.url('gateway')}); logs in {log_dir}")  # fmt: skip
        monitor = ReadinessMonitor({"api": sup.url("api"), "gateway": sup.url("gateway")})
        monitor.start()
        driver = LoadDriver(sup.url("api"), sup.ws_url, users=cfg.users, rate=cfg.rate, rest_fraction=cfg.rest_fraction)
        try:
            await driver.setup()
            log(
                f"{cfg.users} users in {cfg.users // 2} chats; {cfg.rate:.0f} msg/s ({cfg.rest_fraction:.0%} over REST)"
            )
            stuck_online: set[str] = set()
            for fault in cfg.faults:
                result = await run_phase(sup, driver, monitor, fault=fault, cfg=cfg, log=log, stuck_online=stuck_online)
                results.append(result)
                log(format_row(result))
                for problem in (result.problems + result.presence_problems)[:10]:
                    log(f"    ! {problem}")
        finally:
            await driver.aclose()
            await monitor.stop()
    finally:
        await asyncio.to_thread(sup.close)
    return results


_EXCEPTION_LINE = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit|Timeout)\b.*)$")
_LOG_LINE = re.compile(r"^\S+ \S+ (WARNING|ERROR|CRITICAL) (\S+) (?:\[\S*\] )?(.*)$")


def scan_logs(log_dir: Path) -> dict[str, Counter[str]]:
    """Per process: how often each warning/error message and final exception line appears."""
    found: dict[str, Counter[str]] = {}
    for path in sorted(log_dir.glob("*.log")):
        name = path.name.rsplit("-", 1)[0]
        counts = found.setdefault(name, Counter())
        for line in path.read_text(errors="replace").splitlines():
            if match := _LOG_LINE.match(line):
                message = re.sub(r"[0-9a-f]{8}-[0-9a-f-]{27}|[0-9a-f]{32}", "<id>", match.group(3))[:160]
                counts[f"{match.group(1)} {match.group(2)}: {message}"] += 1
            elif match := _EXCEPTION_LINE.match(line):
                counts[f"  raised {match.group(1)[:160]}"] += 1
    return found


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


HEADER = (
    "| fault | sent | acknowledged | lost | duplicated | unacked at end | readiness 200 (s) | fully ready (s) "
    "| time to recover (s) | max ack latency (s) | reconnects | resyncs | pushed late (from history) "
    "| presence clear (s) | ok |"
)


def format_row(r: Result) -> str:
    return (
        f"| {r.fault} | {r.sent} | {r.acked} | {r.lost} | {r.duplicated} | {r.unacked} | {_num(r.ready_s)} "
        f"| {_num(r.full_ready_s)} | {_num(r.recover_s)} | {r.max_ack_latency_s:.1f} | {r.reconnects} | {r.resyncs} "
        f"| {r.rt_missed} | {_num(r.presence_clear_s)} | {'yes' if r.ok else 'NO'} |"
    )


def table(results: list[Result]) -> str:
    sep = "|" + "---|" * HEADER.count(" | ") + "---|"
    return "\n".join([HEADER, sep, *(format_row(r) for r in results)])
