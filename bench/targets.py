"""What the harness talks to: NeonChat (REST + /ws) or the Channels-tutorial baseline.

An adapter sets up ``n`` pairs of chat partners, says where each end connects,
encodes a send and classifies incoming frames. The message text carries the
harness's ``request_id`` so a frame can be matched to its intended send time
whatever order acks and deliveries arrive in.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

TEXT_PREFIX = "bench "


@dataclass
class Peer:
    username: str = ""
    user_id: str = ""
    token: str = ""


@dataclass
class Pair:
    index: int
    a: Peer
    b: Peer
    chat_id: str = ""  # NeonChat chat id, or the baseline's room name
    extra: dict[str, Any] = field(default_factory=dict)


class SetupError(RuntimeError):
    pass


async def _request(client: httpx.AsyncClient, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """One REST call, retrying 429/503 (honouring Retry-After) and connection errors a few times."""
    delay = 0.2
    for attempt in range(8):
        try:
            response = await client.request(method, url, **kwargs)
        except httpx.TransportError:
            if attempt == 7:
                raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 3.0)
            continue
        if response.status_code in (429, 503) and attempt < 7:
            retry_after = response.headers.get("retry-after")
            await asyncio.sleep(float(retry_after) if retry_after and retry_after.isdigit() else delay)
            delay = min(delay * 2, 3.0)
            continue
        return response
    raise AssertionError("unreachable")


class NeonChat:
    """NeonChat: REST setup at ``api``, WebSocket at ``ws`` (``ws://host:port/ws``)."""

    name = "neonchat"
    has_history = True

    def __init__(self, api: str, ws: str, *, setup_concurrency: int = 32) -> None:
        self.api = api.rstrip("/")
        self.ws = ws
        self.setup_concurrency = setup_concurrency
        self.prefix = f"bn{secrets.token_hex(3)}"
        self.password = f"Bench-{secrets.token_hex(8)}!"
        self._counter = 0

    def client(self, connections: int | None = None) -> httpx.AsyncClient:
        size = connections or self.setup_concurrency * 2
        limits = httpx.Limits(max_connections=size, max_keepalive_connections=size)
        return httpx.AsyncClient(base_url=self.api, limits=limits, timeout=httpx.Timeout(30.0))

    async def _user(self, client: httpx.AsyncClient, gate: asyncio.Semaphore) -> Peer:
        self._counter += 1
        username = f"{self.prefix}_{self._counter}"
        body = {"username": username, "password": self.password}
        async with gate:
            response = await _request(client, "POST", "/api/v1/auth/register", json=body)
            if response.status_code != 201:
                raise SetupError(f"register {username}: {response.status_code} {response.text[:200]}")
            response = await _request(client, "POST", "/api/v1/auth/login", json=body)
            if response.status_code != 200:
                raise SetupError(f"login {username}: {response.status_code} {response.text[:200]}")
        data = response.json()
        return Peer(username=username, user_id=str(data["user"]["id"]), token=data["token"])

    async def _chat(self, client: httpx.AsyncClient, gate: asyncio.Semaphore, pair: Pair) -> None:
        async with gate:
            response = await _request(
                client,
                "POST",
                "/api/v1/chats",
                json={"partner_id": pair.b.user_id},
                headers={"Authorization": f"Bearer {pair.a.token}"},
            )
        if response.status_code not in (200, 201):
            raise SetupError(f"create chat: {response.status_code} {response.text[:200]}")
        pair.chat_id = str(response.json()["id"])

    async def setup(self, n_pairs: int) -> list[Pair]:
        gate = asyncio.Semaphore(self.setup_concurrency)
        async with self.client() as client:
            peers = await asyncio.gather(*(self._user(client, gate) for _ in range(2 * n_pairs)))
            pairs = [Pair(i, peers[2 * i], peers[2 * i + 1]) for i in range(n_pairs)]
            await asyncio.gather(*(self._chat(client, gate, pair) for pair in pairs))
        return pairs

    def url(self, pair: Pair, peer: Peer) -> str:
        return f"{self.ws}?token={peer.token}"

    def headers(self) -> dict[str, str]:
        return {}

    def encode(self, pair: Pair, request_id: str) -> bytes:
        frame = {"type": "message", "chat_id": pair.chat_id, "text": TEXT_PREFIX + request_id, "request_id": request_id}
        return orjson.dumps(frame)

    @staticmethod
    def classify(frame: dict[str, Any]) -> tuple[str, str | None, dict[str, Any] | None]:
        """(kind, request_id, message): kind is ack, deliver, error or other."""
        kind = frame.get("type")
        if kind == "message_sent":
            return "ack", frame.get("request_id"), frame.get("message")
        if kind == "new_message":
            message = frame.get("message") or {}
            text = message.get("text") or ""
            return "deliver", text[len(TEXT_PREFIX) :] if text.startswith(TEXT_PREFIX) else None, message
        if kind == "error":
            return "error", frame.get("request_id"), frame
        return "other", None, None

    async def history(self, client: httpx.AsyncClient, pair: Pair) -> list[dict[str, Any]]:
        """Every message of the chat: walk back to the oldest page, then forward with ``after_id``."""
        headers = {"Authorization": f"Bearer {pair.a.token}"}
        url = f"/api/v1/chats/{pair.chat_id}/messages"

        async def page(params: dict[str, Any]) -> dict[str, Any]:
            response = await _request(client, "GET", url, params={"limit": 200, **params}, headers=headers)
            response.raise_for_status()
            return dict(response.json())

        data = await page({})
        oldest = data["messages"]
        while data["has_previous"] and data["messages"]:
            data = await page({"before_id": data["messages"][0]["id"]})
            oldest = data["messages"] or oldest
        if not oldest:
            return []
        # The recovery path of the contract: after_id paging from the first message on.
        messages = [oldest[0]]
        while True:
            data = await page({"after_id": messages[-1]["id"]})
            messages.extend(data["messages"])
            if not data["has_next"] or not data["messages"]:
                return messages

    async def verify(self, pairs: list[Pair], acked: dict[int, set[str]]) -> dict[str, Any]:
        """Check every acknowledged message id is in its chat's history and ``seq`` has no gap."""
        gate = asyncio.Semaphore(self.setup_concurrency)
        counts = {"chats_checked": 0, "lost": 0, "seq_gaps": 0, "stored_total": 0}
        examples: list[str] = []

        async def one(client: httpx.AsyncClient, pair: Pair) -> None:
            async with gate:
                messages = await self.history(client, pair)
            ids = {m["id"] for m in messages}
            seqs = [m["seq"] for m in messages]
            counts["chats_checked"] += 1
            counts["stored_total"] += len(messages)
            if seqs != list(range(1, len(seqs) + 1)):
                counts["seq_gaps"] += 1
            missing = acked.get(pair.index, set()) - ids
            counts["lost"] += len(missing)
            examples.extend(f"{pair.chat_id}/{m}" for m in list(missing)[:3])

        async with self.client() as client:
            await asyncio.gather(*(one(client, pair) for pair in pairs))
        return {**counts, "lost_examples": examples[:10]}


class Baseline:
    """The Channels tutorial chat (``bench.baseline``): ``ws/chat/<room>/``, frames ``{"message": ...}``.

    No accounts, no persistence: a pair is a room; the sender's own echo from
    the group is its ack and the partner's copy the delivery.
    """

    name = "baseline"
    has_history = False

    def __init__(self, ws: str, *, origin: str | None = None) -> None:
        self.ws = ws.rstrip("/")
        self.origin = origin or ("http://" + self.ws.split("://", 1)[1].split("/", 1)[0])
        self.prefix = f"bn{secrets.token_hex(3)}"

    async def setup(self, n_pairs: int) -> list[Pair]:
        return [Pair(i, Peer(username="a"), Peer(username="b"), chat_id=f"{self.prefix}_{i}") for i in range(n_pairs)]

    def url(self, pair: Pair, peer: Peer) -> str:
        return f"{self.ws}/ws/chat/{pair.chat_id}/"

    def headers(self) -> dict[str, str]:
        # The tutorial wraps the router in AllowedHostsOriginValidator: send an Origin like a browser.
        return {"Origin": self.origin}

    def encode(self, pair: Pair, request_id: str) -> bytes:
        return orjson.dumps({"message": TEXT_PREFIX + request_id})

    @staticmethod
    def classify(frame: dict[str, Any]) -> tuple[str, str | None, dict[str, Any] | None]:
        text = frame.get("message")
        if isinstance(text, str) and text.startswith(TEXT_PREFIX):
            return "echo", text[len(TEXT_PREFIX) :], None
        return "other", None, None

    async def verify(self, pairs: list[Pair], acked: dict[int, set[str]]) -> dict[str, Any]:
        return {"chats_checked": 0, "note": "no history: lost = sent but never delivered"}
