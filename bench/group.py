"""``python -m bench group``: one group of ``--members`` users (256 by default), every
member connected, ``--rate`` msg/s into it from members in turn (issue 17's target:
10 msg/s, 2,560 deliveries/s, delivery p95 < 100 ms, 0 lost).

Each message should reach every other member's connection once: a delivery is
timed from the send's due time (open model, as ``bench.scenarios``); ``lost``
counts acknowledged messages missing from the group's history, ``undelivered``
the (message, member) deliveries that never arrived over the WebSocket.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import Counter
from typing import Any

import orjson

from bench.hist import Histogram
from bench.procstat import ProcMonitor
from bench.scenarios import Conn, open_all
from bench.targets import TEXT_PREFIX, NeonChat, Pair, Peer, SetupError, _request


class GroupStats:
    """What the members' connections saw (``Conn`` hands every frame to ``_on_frame``)."""

    def __init__(self, members: int) -> None:
        self.members = members
        self.ack, self.delivery = Histogram(), Histogram()
        self.errors: Counter[str] = Counter()
        self.intended: dict[str, float] = {}
        self.acked: dict[str, str] = {}  # request id -> message id
        self.seen: dict[str, set[str]] = {}  # request id -> the members it reached
        self.duplicates = 0
        self.outstanding = 0
        self.settled = asyncio.Event()
        self.last_frame = time.monotonic()

    def expected(self) -> int:
        return len(self.acked) * (self.members - 1)

    def frame(self, member: str, frame: dict[str, Any]) -> None:
        now = self.last_frame = time.monotonic()
        kind, request_id, message = NeonChat.classify(frame)
        if kind == "error":
            self.errors[f"error_{frame.get('code')}"] += 1
            return
        if kind == "other" or request_id not in self.intended:
            return
        if kind == "ack":
            self.acked[request_id] = (message or {}).get("id", "")
            self.ack.record(now - self.intended[request_id])
            self._progress()
            return
        reached = self.seen.setdefault(request_id, set())
        if member in reached:
            self.duplicates += 1
            return
        reached.add(member)
        self.delivery.record(now - self.intended[request_id])
        self._progress()

    def _progress(self) -> None:
        self.outstanding -= 1
        if self.outstanding <= 0 and self.sending_done:
            self.settled.set()

    sending_done = False

    async def quiet(self, seconds: float, limit: float) -> float:
        """Wait until no frame arrived for ``seconds`` (at most ``limit``); how long it took."""
        started = time.monotonic()
        for _ in range(int(limit / 0.25)):  # polls: frames arrive on other tasks, no event marks "quiet"
            if time.monotonic() - self.last_frame >= seconds:
                break
            await asyncio.sleep(0.25)
        return time.monotonic() - started


class MemberConn(Conn):
    def __init__(self, target: NeonChat, pair: Pair, peer: Peer, stats: GroupStats) -> None:
        super().__init__(target, pair, peer, None)
        self.group_stats = stats

    async def _reader(self) -> None:
        assert self.ws is not None
        with contextlib.suppress(Exception):
            async for raw in self.ws:
                self.group_stats.frame(self.peer.user_id, orjson.loads(raw))
        self.closed_code = self.ws.close_code if self.ws.close_code is not None else -1
        if not getattr(self, "closing", False):
            self.group_stats.errors[f"ws_closed_{self.closed_code}"] += 1


async def _make_group(target: NeonChat, members: int) -> Pair:
    gate = asyncio.Semaphore(target.setup_concurrency)
    async with target.client() as client:
        peers = await asyncio.gather(*(target._user(client, gate) for _ in range(members)))
        owner = peers[0]
        body = {"title": "bench group", "member_ids": [p.user_id for p in peers[1:]]}
        reply = await _request(
            client, "POST", "/api/v1/chats", json=body, headers={"Authorization": f"Bearer {owner.token}"}
        )
        if reply.status_code != 201:
            raise SetupError(f"create group: {reply.status_code} {reply.text[:200]}")
    return Pair(0, owner, owner, chat_id=str(reply.json()["id"]), extra={"peers": peers})


async def group(
    target: NeonChat, *, members: int, rate: float, duration: float, drain: float, procs: dict[str, int]
) -> dict[str, Any]:
    setup_started = time.monotonic()
    pair = await _make_group(target, members)
    peers: list[Peer] = pair.extra["peers"]
    stats = GroupStats(members)
    conns = [MemberConn(target, pair, peer, stats) for peer in peers]
    opened = await open_all(conns, 50, stats.errors)  # type: ignore[arg-type]
    setup_s = time.monotonic() - setup_started
    # Each connect tells its 255 co-members (presence): 65,280 frames for 256 members; let them land.
    settle_s = await stats.quiet(2.0, 120.0)
    stats.errors.clear()

    monitor = ProcMonitor(procs)
    monitor.start()
    total = int(rate * duration)
    t0 = time.monotonic() + 0.2
    for i in range(total):
        intended = t0 + i / rate
        if (delay := intended - time.monotonic()) > 0:
            await asyncio.sleep(delay)
        sender = conns[i % len(conns)]
        request_id = str(uuid.uuid4())
        stats.intended[request_id] = intended
        stats.outstanding += members  # one ack and members - 1 deliveries
        sender.queue.put_nowait(target.encode(pair, request_id))
    send_end = time.monotonic()
    stats.sending_done = True
    if stats.outstanding > 0:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stats.settled.wait(), drain)
    await monitor.stop()
    drained_s = time.monotonic() - send_end
    for conn in conns:
        await conn.close()

    async with target.client() as client:
        history = await target.history(client, pair)
    stored = {m["id"] for m in history if (m.get("text") or "").startswith(TEXT_PREFIX)}
    seqs = [m["seq"] for m in history]
    delivered = sum(len(reached) for reached in stats.seen.values())
    return {
        "scenario": "group",
        "members": members,
        "connections": opened,
        "setup_s": round(setup_s, 2),
        "presence_settle_s": round(settle_s, 2),
        "offered_msgs": total,
        "offered_rate": rate,
        "duration_s": duration,
        "acked": len(stats.acked),
        "deliveries_expected": stats.expected(),
        "deliveries": delivered,
        "undelivered": stats.expected() - delivered,
        "delivery_rate": round(delivered / max(duration, send_end - t0), 1),
        "duplicates": stats.duplicates,
        "ack_latency": stats.ack.summary_ms(),
        "delivery_latency": stats.delivery.summary_ms(),
        "drain_s": round(drained_s, 2),
        "lost": len(set(stats.acked.values()) - stored),
        "seq_gap_free": seqs == list(range(1, len(seqs) + 1)),
        "errors": dict(stats.errors),
        "processes": monitor.report(),
    }
