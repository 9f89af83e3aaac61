"""Contract-following clients under a steady open-model load.

Users come in pairs sharing one chat; each user has one (unscoped) WebSocket
to the gateway. A scheduler sends at a fixed total rate (send times are
planned in advance, so a stalled server does not slow the offered load);
each send picks a random user. A send is *acknowledged* only when its
``message_sent`` arrives (or, for the share sent over REST, a 200/201).

On a disconnect a client reconnects with jittered exponential backoff,
re-sends every unacknowledged message with the SAME ``request_id`` and
resyncs through ``GET /api/v1/chats/{id}/messages?after_id=<last contiguous
seq's id>`` (limit 200, following ``has_next``). A ``seq`` gap seen in
``new_message`` triggers the same resync (after a short debounce, since
fan-out may merely reorder).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
import websockets
from websockets.asyncio.client import ClientConnection, connect

PASSWORD = "correct-horse-battery"
ACK_RESEND_AFTER = 10.0  # an open socket that never answered: send the same request_id again
GAP_DEBOUNCE = 0.3


def now() -> float:
    return time.monotonic()


@dataclass
class Outgoing:
    request_id: str
    sender_id: str
    chat_id: str
    text: str
    via: str  # "ws" | "rest"
    phase: str
    scheduled: float
    last_sent: float | None = None
    attempts: int = 0
    acked_at: float | None = None
    message_id: str | None = None
    seq: int | None = None


@dataclass
class Stats:
    connects: int = 0
    disconnects: int = 0
    connect_failures: int = 0
    resyncs: int = 0
    resync_failures: int = 0
    resync_pages: int = 0
    resends: int = 0
    rest_retries: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    ack_conflicts: list[tuple[str, str, str]] = field(default_factory=list)  # request_id, first id, other id
    seq_conflicts: list[tuple[str, int, str, str]] = field(default_factory=list)  # chat, seq, held id, other id
    reconnected_at: list[float] = field(default_factory=list)
    disconnected_at: list[float] = field(default_factory=list)


class Client:
    def __init__(self, driver: LoadDriver, user_id: str, username: str, token: str, chat_id: str) -> None:
        self.driver = driver
        self.user_id, self.username, self.token, self.chat_id = user_id, username, token, chat_id
        self.held: dict[int, dict[str, Any]] = {}
        self.source: dict[int, str] = {}  # seq -> "rt" | "ack" | "history"
        self.contiguous = 0
        self.unacked: dict[str, Outgoing] = {}
        self.ws: ClientConnection | None = None
        self.closing = False
        self._resync_event = asyncio.Event()
        self._force_resync = False
        self._tasks: list[asyncio.Task[None]] = []

    # ---- holding messages ------------------------------------------------
    def hold(self, message: dict[str, Any], source: str) -> None:
        seq = int(message["seq"])
        existing = self.held.get(seq)
        if existing is not None:
            if existing["id"] != message["id"]:
                self.driver.stats.seq_conflicts.append((self.chat_id, seq, existing["id"], message["id"]))
            return
        self.held[seq] = message
        self.source[seq] = source
        while self.contiguous + 1 in self.held:
            self.contiguous += 1

    def has_gap(self) -> bool:
        return bool(self.held) and max(self.held) > self.contiguous

    # ---- lifecycle -------------------------------------------------------
    def start(self) -> None:
        self.closing = False
        self._tasks = [asyncio.create_task(self._connection_loop()), asyncio.create_task(self._resync_worker()),
                       asyncio.create_task(self._ack_watchdog())]  # fmt: skip

    async def close(self) -> None:
        self.closing = True
        self._resync_event.set()
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.ws.close(), 2)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        self.ws = None

    @property
    def connected(self) -> bool:
        return self.ws is not None

    async def _connection_loop(self) -> None:
        stats = self.driver.stats
        backoff = 0.1
        url = f"{self.driver.ws_url}?token={self.token}"
        while not self.closing:
            opened = False
            try:
                async with connect(
                    url, open_timeout=3, ping_interval=2, ping_timeout=4, close_timeout=1,
                    max_queue=None, compression=None, proxy=None,
                ) as ws:  # fmt: skip
                    opened = True
                    self.ws = ws
                    stats.connects += 1
                    stats.reconnected_at.append(now())
                    backoff = 0.1
                    for out in list(self.unacked.values()):
                        if out.via == "ws":
                            stats.resends += 1
                            await self._send_frame(out)
                    self.request_resync(force=True)
                    async for raw in ws:
                        self._on_frame(json.loads(raw))
            except (OSError, TimeoutError, websockets.exceptions.WebSocketException, asyncio.IncompleteReadError):
                if not opened:
                    stats.connect_failures += 1
            finally:
                if opened:
                    self.ws = None
                    stats.disconnects += 1
                    stats.disconnected_at.append(now())
            if self.closing:
                return
            await asyncio.sleep(backoff * random.uniform(0.5, 1.5))
            backoff = min(backoff * 2, 2.0)

    # ---- sending ---------------------------------------------------------
    async def _send_frame(self, out: Outgoing) -> None:
        ws = self.ws
        if ws is None:
            return  # re-sent on reconnect
        out.attempts += 1
        out.last_sent = now()
        frame = {"type": "message", "chat_id": out.chat_id, "text": out.text, "request_id": out.request_id}
        with contextlib.suppress(websockets.exceptions.WebSocketException, OSError):
            await ws.send(json.dumps(frame))

    def submit(self, out: Outgoing) -> None:
        self.unacked[out.request_id] = out
        if out.via == "ws":
            task = asyncio.create_task(self._send_frame(out))
        else:
            task = asyncio.create_task(self._send_rest(out))
        self.driver.background.add(task)
        task.add_done_callback(self.driver.background.discard)

    async def _send_rest(self, out: Outgoing) -> None:
        url = f"{self.driver.api_url}/api/v1/chats/{out.chat_id}/messages"
        headers = {"Authorization": f"Bearer {self.token}"}
        body = {"text": out.text, "request_id": out.request_id}
        backoff = 0.1
        while out.acked_at is None:
            out.attempts += 1
            out.last_sent = now()
            try:
                async with self.driver.rest_slots:
                    reply = await self.driver.http.post(url, json=body, headers=headers, timeout=5)
            except httpx.HTTPError:
                reply = None
            if reply is not None and reply.status_code in (200, 201):
                self._acked(out, reply.json(), "rest")
                return
            self.driver.stats.errors["rest_" + (str(reply.status_code) if reply is not None else "conn")] += 1
            if reply is not None and reply.status_code < 500 and reply.status_code not in (401, 429):
                return  # a client error will not get better: left unacknowledged (and reported)
            self.driver.stats.rest_retries += 1
            await asyncio.sleep(backoff * random.uniform(0.5, 1.5))
            backoff = min(backoff * 2, 2.0)

    def _acked(self, out: Outgoing, message: dict[str, Any], source: str) -> None:
        if out.message_id is not None:
            if out.message_id != message["id"]:
                self.driver.stats.ack_conflicts.append((out.request_id, out.message_id, message["id"]))
            return
        out.acked_at = now()
        out.message_id, out.seq = message["id"], int(message["seq"])
        self.unacked.pop(out.request_id, None)
        self.hold(message, "ack")

    async def _ack_watchdog(self) -> None:
        while not self.closing:
            await asyncio.sleep(1)
            moment = now()
            for out in list(self.unacked.values()):
                if out.via == "ws" and out.last_sent is not None and moment - out.last_sent > ACK_RESEND_AFTER:
                    self.driver.stats.resends += 1
                    await self._send_frame(out)

    # ---- receiving -------------------------------------------------------
    def _on_frame(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "message_sent":
            out = self.driver.outgoing.get(frame.get("request_id") or "")
            if out is None:
                self.driver.stats.errors["ack_unknown_request"] += 1
                return
            self._acked(out, frame["message"], "ws")
        elif kind == "new_message":
            message = frame["message"]
            if message["chat_id"] != self.chat_id:
                return
            self.hold(message, "rt")
            if self.has_gap():
                self.request_resync(force=False)
        elif kind == "error":
            self.driver.stats.errors[str(frame.get("code"))] += 1
            out = self.unacked.get(frame.get("request_id") or "")
            if out is not None:
                out.last_sent = now() - ACK_RESEND_AFTER + 0.5  # the watchdog re-sends it shortly

    # ---- history resync --------------------------------------------------
    def request_resync(self, *, force: bool) -> None:
        if force:
            self._force_resync = True
        self._resync_event.set()

    async def _resync_worker(self) -> None:
        backoff = 0.2
        while not self.closing:
            await self._resync_event.wait()
            self._resync_event.clear()
            if self.closing:
                return
            if not self._force_resync:
                await asyncio.sleep(GAP_DEBOUNCE)
                if not self.has_gap() and not self._force_resync:
                    continue
            self._force_resync = False
            if await self.resync():
                backoff = 0.2
                continue
            self._force_resync = True
            self._resync_event.set()
            await asyncio.sleep(backoff * random.uniform(0.5, 1.5))
            backoff = min(backoff * 2, 2.0)

    async def resync(self) -> bool:
        """Fetch everything after the last contiguous message; False if the api failed."""
        stats = self.driver.stats
        stats.resyncs += 1
        after = self.held[self.contiguous]["id"] if self.contiguous else None
        headers = {"Authorization": f"Bearer {self.token}"}
        url = f"{self.driver.api_url}/api/v1/chats/{self.chat_id}/messages"
        while True:
            params = {"limit": "200", **({"after_id": after} if after else {})}
            try:
                async with self.driver.rest_slots:
                    reply = await self.driver.http.get(url, params=params, headers=headers, timeout=5)
            except httpx.HTTPError:
                stats.resync_failures += 1
                return False
            if reply.status_code != 200:
                stats.resync_failures += 1
                stats.errors[f"history_{reply.status_code}"] += 1
                return False
            stats.resync_pages += 1
            page = reply.json()
            for message in page["messages"]:
                self.hold(message, "history")
            if after is None or not page["has_next"] or not page["messages"]:
                return True
            after = page["messages"][-1]["id"]


class LoadDriver:
    """``setup`` users and chats, ``connect`` everyone, ``run`` load until stopped, ``drain``."""

    def __init__(self, api_url: str, ws_url: str, *, users: int, rate: float, rest_fraction: float = 0.2) -> None:
        assert users >= 2 and users % 2 == 0, "users come in pairs"
        self.api_url, self.ws_url = api_url, ws_url
        self.n_users, self.rate, self.rest_fraction = users, rate, rest_fraction
        # A bounded number of REST calls at a time: a long queue inside httpx's pool costs the
        # driver quadratic CPU exactly when the api is down and everything retries.
        self.http = httpx.AsyncClient(limits=httpx.Limits(max_connections=32, max_keepalive_connections=32))
        self.rest_slots = asyncio.Semaphore(32)
        self.clients: list[Client] = []
        self.outgoing: dict[str, Outgoing] = {}
        self.stats = Stats()
        self.background: set[asyncio.Task[Any]] = set()
        self.setup_errors: list[str] = []
        self._counter = 0

    async def aclose(self) -> None:
        await asyncio.gather(*(c.close() for c in self.clients))
        for task in list(self.background):
            task.cancel()
        await asyncio.gather(*self.background, return_exceptions=True)
        await self.http.aclose()

    # ---- setup -----------------------------------------------------------
    async def _post(self, path: str, body: dict[str, Any], ok: tuple[int, ...], token: str = "") -> httpx.Response:
        """POST with a few retries on 5xx (setup must not fail on a transient server error)."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        for _ in range(5):
            reply = await self.http.post(f"{self.api_url}{path}", json=body, headers=headers, timeout=30)
            if reply.status_code in ok:
                return reply
            self.setup_errors.append(f"POST {path}: {reply.status_code} {reply.text[:200]}")
            if reply.status_code < 500:
                break
            await asyncio.sleep(0.5)
        raise AssertionError(f"POST {path} failed: {reply.status_code} {reply.text[:300]}")

    async def _register(self, sem: asyncio.Semaphore) -> tuple[str, str, str]:
        async with sem:
            name = f"chaos{uuid.uuid4().hex[:10]}"
            body = {"username": name, "password": PASSWORD}
            await self._post("/api/v1/auth/register", body, (201, 409))
            data = (await self._post("/api/v1/auth/login", body, (200,))).json()
            return str(data["user"]["id"]), name, str(data["token"])

    async def _pair(self, a: tuple[str, str, str], b: tuple[str, str, str]) -> None:
        reply = await self._post("/api/v1/chats", {"partner_id": b[0]}, (200, 201), a[2])
        chat_id = str(reply.json()["id"])
        # One seed message, so every client starts from a known first message (after_id needs one).
        seed = {"text": "seed", "request_id": str(uuid.uuid4())}
        await self._post(f"/api/v1/chats/{chat_id}/messages", seed, (200, 201), a[2])
        for user in (a, b):
            client = Client(self, user[0], user[1], user[2], chat_id)
            assert await client.resync()
            self.clients.append(client)

    async def setup(self) -> None:
        sem = asyncio.Semaphore(8)
        accounts = await asyncio.gather(*(self._register(sem) for _ in range(self.n_users)))
        for i in range(0, len(accounts), 8):
            batch = accounts[i : i + 8]
            await asyncio.gather(*(self._pair(batch[j], batch[j + 1]) for j in range(0, len(batch), 2)))

    async def connect_all(self, timeout: float = 60) -> None:
        for client in self.clients:
            client.start()
        deadline = now() + timeout
        while not all(c.connected for c in self.clients):
            if now() > deadline:
                missing = sum(not c.connected for c in self.clients)
                raise TimeoutError(f"{missing} clients could not connect")
            await asyncio.sleep(0.1)

    async def disconnect_all(self) -> None:
        await asyncio.gather(*(c.close() for c in self.clients))

    # ---- load ------------------------------------------------------------
    async def run(self, stop: asyncio.Event, phase: str) -> int:
        """Send at ``rate`` msg/s on a fixed schedule until ``stop`` is set; returns how many."""
        started = now()
        sent = 0
        while not stop.is_set():
            due = started + sent / self.rate
            delay = due - now()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
                continue
            client = random.choice(self.clients)
            self._counter += 1
            request_id = str(uuid.uuid4())
            out = Outgoing(
                request_id=request_id, sender_id=client.user_id, chat_id=client.chat_id,
                text=f"{phase} #{self._counter} from {client.username} [{request_id[:8]}]",
                via="rest" if random.random() < self.rest_fraction else "ws", phase=phase, scheduled=due,
            )  # fmt: skip
            self.outgoing[request_id] = out
            client.submit(out)
            sent += 1
        return sent

    def unacked(self) -> list[Outgoing]:
        return [o for o in self.outgoing.values() if o.acked_at is None]

    async def drain(self, timeout: float) -> bool:
        """Wait until every message sent so far is acknowledged (clients keep retrying)."""
        deadline = now() + timeout
        while self.unacked():
            if now() > deadline:
                return False
            await asyncio.sleep(0.1)
        return True

    async def final_resync(self, attempts: int = 10) -> int:
        """Every client fetches what it misses (retrying like a client would); returns how many never could."""

        async def one(client: Client) -> bool:
            for attempt in range(attempts):
                if await client.resync():
                    return True
                await asyncio.sleep(0.2 * (attempt + 1))
            return False

        results = await asyncio.gather(*(one(c) for c in self.clients))
        return sum(not ok for ok in results)
