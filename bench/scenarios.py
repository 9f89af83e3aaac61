"""The scenarios: ``messages`` (open-model chat load), ``connections`` (idle sockets), ``rest``."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from bench.hist import Histogram
from bench.procstat import ProcMonitor
from bench.targets import Baseline, NeonChat, Pair, Peer, _request

Target = NeonChat | Baseline


@dataclass
class Pending:
    intended: float
    pair: Pair
    sender: Conn
    acked: float | None = None
    delivered: float | None = None
    message_id: str | None = None


@dataclass
class Stats:
    ack: Histogram = field(default_factory=Histogram)
    delivery: Histogram = field(default_factory=Histogram)
    errors: Counter[str] = field(default_factory=Counter)
    pending: dict[str, Pending] = field(default_factory=dict)
    acked: int = 0
    delivered: int = 0
    duplicates: int = 0
    last_ack: float = 0.0
    last_delivery: float = 0.0
    outstanding: int = 0  # sends not yet both acked and delivered
    settled: asyncio.Event = field(default_factory=asyncio.Event)


class Conn:
    """One WebSocket with a writer queue (a slow socket never delays the schedule of others)."""

    def __init__(self, target: Target, pair: Pair, peer: Peer, stats: Stats | None) -> None:
        self.target, self.pair, self.peer, self.stats = target, pair, peer, stats
        self.ws: ClientConnection | None = None
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()
        self.tasks: list[asyncio.Task[None]] = []
        self.closed_code: int | None = None

    async def open(self, open_timeout: float = 30.0) -> None:
        self.ws = await connect(
            self.target.url(self.pair, self.peer),
            additional_headers=self.target.headers(),
            compression=None,
            ping_interval=None,
            max_size=2**22,
            open_timeout=open_timeout,
            max_queue=None,
        )
        loop = asyncio.get_running_loop()
        self.tasks = [loop.create_task(self._reader()), loop.create_task(self._writer())]

    async def _writer(self) -> None:
        assert self.ws is not None
        while True:
            frame = await self.queue.get()
            try:
                await self.ws.send(frame.decode())
            except ConnectionClosed:
                return

    async def _reader(self) -> None:
        assert self.ws is not None
        try:
            async for raw in self.ws:
                if self.stats is not None:
                    self._on_frame(orjson.loads(raw))
        except ConnectionClosed:
            pass
        finally:
            self.closed_code = self.ws.close_code if self.ws.close_code is not None else -1
            if self.stats is not None and not getattr(self, "closing", False):
                self.stats.errors[f"ws_closed_{self.closed_code}"] += 1

    def _on_frame(self, frame: dict[str, Any]) -> None:
        now = time.monotonic()
        stats = self.stats
        assert stats is not None
        kind, request_id, message = self.target.classify(frame)
        if kind == "other":
            return
        pending = stats.pending.get(request_id or "")
        if kind == "error":
            stats.errors[f"error_{frame.get('code')}"] += 1
            return
        if pending is None:
            stats.errors["unmatched_frame"] += 1
            return
        if kind == "echo":  # baseline: the sender's echo acks, the partner's copy delivers
            kind = "ack" if pending.sender is self else "deliver"
        if kind == "ack":
            if pending.acked is not None:
                stats.duplicates += 1
                return
            pending.acked = now
            pending.message_id = (message or {}).get("id")
            stats.acked += 1
            stats.last_ack = now
            stats.ack.record(now - pending.intended)
        else:
            if pending.delivered is not None:
                stats.duplicates += 1
                return
            pending.delivered = now
            stats.delivered += 1
            stats.last_delivery = now
            stats.delivery.record(now - pending.intended)
        if pending.acked is not None and pending.delivered is not None:
            stats.outstanding -= 1
            if stats.outstanding == 0:
                stats.settled.set()

    async def close(self) -> None:
        self.closing = True
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.ws.close(), 5)
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(BaseException):
                await task


async def open_all(conns: list[Conn], concurrency: int, errors: Counter[str], hist: Histogram | None = None) -> int:
    gate = asyncio.Semaphore(concurrency)

    async def one(conn: Conn) -> bool:
        async with gate:
            started = time.monotonic()
            try:
                await conn.open()
            except Exception as error:
                errors[f"connect_{type(error).__name__}"] += 1
                return False
            if hist is not None:
                hist.record(time.monotonic() - started)
            return True

    return sum(await asyncio.gather(*(one(c) for c in conns)))


def _pair_conns(target: Target, pairs: list[Pair], stats: Stats | None) -> list[tuple[Conn, Conn]]:
    return [(Conn(target, p, p.a, stats), Conn(target, p, p.b, stats)) for p in pairs]


async def _close_all(conns: list[Conn]) -> None:
    gate = asyncio.Semaphore(200)

    async def one(conn: Conn) -> None:
        async with gate:
            await conn.close()

    await asyncio.gather(*(one(c) for c in conns))


async def _offer(
    target: Target, ends: list[tuple[Conn, Conn]], stats: Stats, *, rate: float, total: int, t0: float
) -> Histogram:
    """Open model: send ``i`` is due at ``t0 + i / rate`` whatever happened to earlier ones.

    Pairs take turns round-robin, alternating direction; latency is measured from
    the due time, so a stalled server or socket cannot hide behind a late send.
    """
    lag = Histogram()
    for i in range(total):
        intended = t0 + i / rate
        delay = intended - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        lag.record(max(0.0, time.monotonic() - intended))
        a, b = ends[i % len(ends)]
        sender = a if (i // len(ends)) % 2 == 0 else b
        request_id = str(uuid.uuid4())
        stats.pending[request_id] = Pending(intended, sender.pair, sender)
        stats.outstanding += 1
        if sender.closed_code is not None:
            stats.errors["send_on_closed"] += 1
            continue
        sender.queue.put_nowait(target.encode(sender.pair, request_id))
    return lag


async def messages(
    target: Target,
    *,
    pairs_n: int,
    rate: float,
    duration: float,
    drain: float,
    procs: dict[str, int],
    connect_concurrency: int = 50,
) -> dict[str, Any]:
    """``rate`` msg/s over ``pairs_n`` pairs (round-robin, alternating direction) for ``duration`` s."""
    setup_started = time.monotonic()
    pairs = await target.setup(pairs_n)
    stats = Stats()
    ends = _pair_conns(target, pairs, stats)
    flat = [c for pair in ends for c in pair]
    opened = await open_all(flat, connect_concurrency, stats.errors)
    setup_s = time.monotonic() - setup_started
    await asyncio.sleep(1.0)  # let presence fan-out of the connects settle
    stats.errors.clear()

    monitor = ProcMonitor(procs)
    monitor.start()
    total = int(rate * duration)
    t0 = time.monotonic() + 0.2
    scheduler_lag = await _offer(target, ends, stats, rate=rate, total=total, t0=t0)
    send_end = time.monotonic()
    if stats.outstanding > 0:
        stats.settled.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stats.settled.wait(), drain)
    await monitor.stop()
    drained_s = time.monotonic() - send_end

    acked_ids: dict[int, set[str]] = {}
    never_acked = acked_undelivered = sent_undelivered = 0
    for p in stats.pending.values():
        if p.acked is None:
            never_acked += 1
        elif p.message_id:
            acked_ids.setdefault(p.pair.index, set()).add(p.message_id)
        if p.delivered is None:
            sent_undelivered += 1
            if p.acked is not None:
                acked_undelivered += 1
    live_open = sum(1 for c in flat if c.closed_code is None)
    await _close_all(flat)

    verify = await target.verify(pairs, acked_ids) if target.has_history else {}
    lost = verify.get("lost", 0) if target.has_history else sent_undelivered
    window_ack = max(duration, stats.last_ack - t0) if stats.acked else duration
    window_del = max(duration, stats.last_delivery - t0) if stats.delivered else duration
    return {
        "scenario": "messages",
        "target": target.name,
        "pairs": pairs_n,
        "connections": opened,
        "connections_open_at_end": live_open,
        "setup_s": round(setup_s, 2),
        "duration_s": duration,
        "offered_msgs": total,
        "offered_rate": rate,
        "acked": stats.acked,
        "delivered": stats.delivered,
        "achieved_ack_rate": round(stats.acked / window_ack, 1),
        "achieved_delivery_rate": round(stats.delivered / window_del, 1),
        "ack_latency": stats.ack.summary_ms(),
        "delivery_latency": stats.delivery.summary_ms(),
        "scheduler_lag": scheduler_lag.summary_ms(),
        "drain_s": round(drained_s, 2),
        "never_acked": never_acked,
        "acked_not_delivered_live": acked_undelivered,
        "duplicates": stats.duplicates,
        "errors": dict(stats.errors),
        "error_total": sum(stats.errors.values()) + never_acked,
        "lost": lost,
        "lost_definition": "acked but not in history" if target.has_history else "sent but never delivered",
        "verify": verify,
        "processes": monitor.report(),
    }


async def connections(
    target: Target,
    *,
    count: int,
    hold: float,
    procs: dict[str, int],
    gateway: str,
    connect_concurrency: int = 50,
) -> dict[str, Any]:
    """Open ``count`` idle WebSockets (one user each), hold them, report the gateway's RSS growth."""
    pairs = await target.setup((count + 1) // 2)
    errors: Counter[str] = Counter()
    flat = [c for pair in _pair_conns(target, pairs, None) for c in pair][:count]
    monitor = ProcMonitor(procs)
    await asyncio.sleep(1.0)
    monitor.start()
    gw = monitor.samples.get(gateway)
    rss_before = gw.rss_start if gw else None
    connect_hist = Histogram()
    started = time.monotonic()
    opened = await open_all(flat, connect_concurrency, errors, connect_hist)
    connect_s = time.monotonic() - started
    await asyncio.sleep(hold)
    await monitor.stop()
    still_open = sum(1 for c in flat if c.closed_code is None)
    rss_after = gw.rss_end if gw else None
    await _close_all(flat)
    per_conn = None
    if rss_before is not None and rss_after is not None and opened:
        per_conn = round((rss_after - rss_before) / opened / 1024, 1)
    return {
        "scenario": "connections",
        "target": target.name,
        "requested": count,
        "opened": opened,
        "still_open_after_hold": still_open,
        "connect_s": round(connect_s, 2),
        "connect_latency": connect_hist.summary_ms(),
        "hold_s": hold,
        "gateway": gateway,
        "gateway_rss_before_mib": None if rss_before is None else round(rss_before / 2**20, 1),
        "gateway_rss_after_mib": None if rss_after is None else round(rss_after / 2**20, 1),
        "gateway_kib_per_connection": per_conn,
        "errors": dict(errors),
        "processes": monitor.report(),
    }


async def rest(
    target: NeonChat,
    *,
    pairs_n: int,
    rate: float,
    duration: float,
    seed_messages: int,
    history_share: float,
    procs: dict[str, int],
) -> dict[str, Any]:
    """Open-model REST load: GET /chats and GET /chats/{id}/messages (newest page) at ``rate`` RPS."""
    pairs = await target.setup(pairs_n)
    gate = asyncio.Semaphore(target.setup_concurrency)

    async def seed(client: Any, pair: Pair, i: int) -> None:
        peer = pair.a if i % 2 == 0 else pair.b
        body = {"text": f"seed {i}", "request_id": str(uuid.uuid4())}
        async with gate:
            await _request(
                client,
                "POST",
                f"/api/v1/chats/{pair.chat_id}/messages",
                json=body,
                headers={"Authorization": f"Bearer {peer.token}"},
            )

    async with target.client() as client:
        await asyncio.gather(*(seed(client, p, i) for p in pairs for i in range(seed_messages)))

    hists = {"chats": Histogram(), "messages": Histogram()}
    statuses: Counter[str] = Counter()
    monitor = ProcMonitor(procs)
    rng = random.Random(7)
    total = int(rate * duration)
    tasks: list[asyncio.Task[None]] = []
    last_done = 0.0

    async def one(client: Any, kind: str, pair: Pair, peer: Peer, intended: float) -> None:
        nonlocal last_done
        headers = {"Authorization": f"Bearer {peer.token}"}
        url = "/api/v1/chats" if kind == "chats" else f"/api/v1/chats/{pair.chat_id}/messages"
        try:
            async with in_flight:  # never queue inside httpcore (its pool is quadratic in waiters)
                response = await client.get(url, headers=headers, params={"limit": 20 if kind == "chats" else 50})
            statuses[f"{kind}_{response.status_code}"] += 1
        except Exception as error:
            statuses[f"{kind}_{type(error).__name__}"] += 1
            return
        now = time.monotonic()
        last_done = max(last_done, now)
        if response.status_code == 200:
            hists[kind].record(now - intended)

    in_flight = asyncio.Semaphore(256)  # the wait for a slot counts: latency is from the intended time
    async with target.client(connections=256) as client:
        monitor.start()
        t0 = time.monotonic() + 0.2
        loop = asyncio.get_running_loop()
        for i in range(total):
            intended = t0 + i / rate
            delay = intended - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            pair = pairs[rng.randrange(len(pairs))]
            peer = pair.a if rng.random() < 0.5 else pair.b
            kind = "messages" if rng.random() < history_share else "chats"
            tasks.append(loop.create_task(one(client, kind, pair, peer, intended)))
        await asyncio.gather(*tasks)
        await monitor.stop()
    ok = sum(h.count for h in hists.values())
    window = max(duration, last_done - t0)
    all_hist = Histogram()
    for h in hists.values():
        all_hist.merge(h)
    return {
        "scenario": "rest",
        "target": target.name,
        "pairs": pairs_n,
        "offered_rate": rate,
        "duration_s": duration,
        "offered_requests": total,
        "ok": ok,
        "achieved_rate": round(ok / window, 1),
        "latency": all_hist.summary_ms(),
        "latency_chat_list": hists["chats"].summary_ms(),
        "latency_history": hists["messages"].summary_ms(),
        "statuses": dict(statuses),
        "error_total": total - ok,
        "processes": monitor.report(),
    }
