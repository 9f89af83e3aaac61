"""Scale-out: two gateways, two notifiers and two api instances share one
database, one primary Redis (presence, rate limits) and a channel layer
sharded over two Redis instances. Clients on different instances chat,
see each other's presence and typing, share one rate limit, and survive the
loss of a gateway or a notifier without losing an acknowledged message."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import signal
import time
import uuid
from typing import Any

import httpx
import pytest
import websockets
from channels_redis.utils import _consistent_hash
from django.conf import settings

from tests.cluster.conftest import RATE_LIMIT, Cluster, Server
from tests.e2e.conftest import Account, history_after, open_chat, register
from tests.e2e.procs import ROOT, free_port, fresh_window

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


async def next_of(ws: Any, wanted: str, timeout: float = 5, **match: Any) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            frame = json.loads(await ws.recv())
            if frame["type"] == wanted and all(frame.get(k) == v for k, v in match.items()):
                return frame


async def send(ws: Any, chat_id: str, text: str) -> dict[str, Any]:
    request_id = str(uuid.uuid4())
    await ws.send(json.dumps({"type": "message", "chat_id": chat_id, "text": text, "request_id": request_id}))
    ack = await next_of(ws, "message_sent", timeout=10, request_id=request_id)
    return dict(ack["message"])


def shard_of(user: Account, shards: int = 2) -> int:
    """The channel-layer Redis (index in CHANNEL_LAYER_HOSTS) that carries ``user``'s group."""
    return int(_consistent_hash(f"{settings.CHANNEL_LAYER_PREFIX}__group__user.{user.id}", shards))


def pair_across_shards(api: str) -> tuple[Account, Account]:
    """Two users whose groups live on different channel-layer Redis instances."""
    a = register(api)
    while True:
        b = register(api)
        if shard_of(b) != shard_of(a):
            return a, b


def lb_stats(port: int) -> dict[str, dict[str, str]]:
    """HAProxy's CSV status page as {server or FRONTEND/BACKEND name: {column: value}}."""
    lines = httpx.get(f"http://127.0.0.1:{port}/stats;csv", timeout=5).text.splitlines()
    columns = lines[0].lstrip("# ").split(",")
    return {row[1]: dict(zip(columns, row, strict=False)) for row in (line.split(",") for line in lines[1:] if line)}


def headers(who: Account) -> dict[str, str]:
    return {"Authorization": f"Bearer {who.token}"}


async def test_clients_on_different_gateways_chat_with_ack_and_delivery(cluster: Cluster) -> None:
    api1, api2 = (p.url for p in cluster.apis)
    gw1, gw2 = cluster.gateways
    a, b = pair_across_shards(api1)
    chat_id = open_chat(api2, a, b)
    async with (
        websockets.connect(f"{gw1.ws}?token={a.token}") as wa,
        websockets.connect(f"{gw2.ws}?token={a.token}") as wa_other_device,
        websockets.connect(f"{gw2.ws}?token={b.token}&chat_id={chat_id}") as wb,
    ):
        # Each user's group is subscribed on its own shard, by the gateways that serve it.
        for i, r in enumerate(cluster.shard_redis()):
            subscribed = set(r.pubsub_channels(f"{settings.CHANNEL_LAYER_PREFIX}*"))
            for user in (a, b):
                group = f"{settings.CHANNEL_LAYER_PREFIX}__group__user.{user.id}"
                assert (group in subscribed) == (shard_of(user) == i), (i, user.id, subscribed)
        sent = await send(wa, chat_id, "from gateway 1")
        assert (await next_of(wb, "new_message"))["message"] == sent
        assert (await next_of(wa_other_device, "new_message"))["message"] == sent
        # A's other device shares gateway 2 with B: served there at once, and the notifier's
        # copy (A also has a socket on gateway 1) is dropped there: each socket gets it once.
        reply = await send(wb, chat_id, "from gateway 2")
        assert (await next_of(wa, "new_message"))["message"] == reply
        assert (await next_of(wa_other_device, "new_message"))["message"] == reply
        for ws in (wa, wa_other_device, wb):
            with pytest.raises(TimeoutError):
                await next_of(ws, "new_message", timeout=0.5)
        assert (sent["seq"], reply["seq"]) == (1, 2)
    for api in (api1, api2):
        assert [m["id"] for m in history_after(api, b, chat_id)] == [sent["id"], reply["id"]]


async def test_presence_and_typing_cross_instances(cluster: Cluster) -> None:
    api1, api2 = (p.url for p in cluster.apis)
    gw1, gw2 = cluster.gateways
    a, b = pair_across_shards(api1)
    chat_id = open_chat(api1, a, b)
    async with websockets.connect(f"{gw2.ws}?token={b.token}") as watcher:
        wa = await websockets.connect(f"{gw1.ws}?token={a.token}")
        online = await next_of(watcher, "presence", user_id=a.id)
        assert online["event"] == "user_online"
        # Presence lives in the primary Redis: every api instance gives the same answer.
        for api in (api1, api2):
            chat = httpx.get(f"{api}/api/v1/chats/{chat_id}", headers=headers(b), timeout=10).json()
            assert chat["partner"] == {"id": a.id, "username": a.username, "online": True}
        await wa.send(json.dumps({"type": "typing", "chat_id": chat_id, "is_typing": True}))
        typing = await next_of(watcher, "typing")
        assert (typing["user_id"], typing["chat_id"], typing["is_typing"]) == (a.id, chat_id, True)
        await wa.close()
        offline = await next_of(watcher, "presence", user_id=a.id)
        assert offline["event"] == "user_offline"
        for api in (api1, api2):
            chat = httpx.get(f"{api}/api/v1/chats/{chat_id}", headers=headers(b), timeout=10).json()
            assert chat["partner"]["online"] is False


def test_rate_limit_holds_across_api_instances(cluster: Cluster) -> None:
    who = register(cluster.apis[0].url)
    statuses: list[int] = []
    fresh_window()  # the 50 requests must not straddle the reset of the one-minute window
    with httpx.Client(timeout=10) as client:
        for i in range(RATE_LIMIT + 10):
            api = cluster.apis[i % 2].url  # alternate instances: one shared counter
            statuses.append(client.get(f"{api}/api/v1/users/me", headers=headers(who)).status_code)
        assert statuses.count(200) == RATE_LIMIT, statuses
        assert statuses[RATE_LIMIT:] == [429] * 10
        for proc in cluster.apis:
            refused = client.get(f"{proc.url}/api/v1/users/me", headers=headers(who))
            assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1


def _metric(port: int, name: str, label: str) -> float:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name) and label in line)


async def test_notifier_killed_delivery_continues_through_the_other(cluster: Cluster) -> None:
    api = cluster.apis[0].url
    gw1, gw2 = cluster.gateways
    a, b = register(api), register(api)
    chat_id = open_chat(api, a, b)
    published = "neonchat_events_published_total"
    before = [_metric(port, published, 'type="chat.message"') for port in cluster.notifier_metrics]
    async with (
        websockets.connect(f"{gw1.ws}?token={a.token}") as wa,
        websockets.connect(f"{gw2.ws}?token={b.token}") as wb,
    ):
        for i in range(8):
            sent = await send(wa if i % 2 else wb, chat_id, f"both notifiers {i}")
            assert (await next_of(wb if i % 2 else wa, "new_message"))["message"]["id"] == sent["id"]
        # round_robin over NOTIFIER_ADDR: both notifiers carried some of the fan-out.
        after = [_metric(port, published, 'type="chat.message"') for port in cluster.notifier_metrics]
        assert all(x > y for x, y in zip(after, before, strict=True)), (before, after)

        doomed = cluster.notifiers[0]
        doomed.signal(signal.SIGKILL)
        doomed.wait()
        try:
            for i in range(10):  # every one acknowledged and delivered live, none through the dead one
                sent = await send(wa, chat_id, f"one notifier {i}")
                got = await next_of(wb, "new_message", timeout=5)
                assert got["message"]["id"] == sent["id"]
            ready = httpx.get(f"{gw1.url}/health/ready", timeout=5).json()
            assert ready["checks"]["notification_service"] == "healthy"
        finally:
            cluster.restart(doomed)
    assert [m["seq"] for m in history_after(api, a, chat_id)] == list(range(1, 19))


def last_contiguous(seen: list[dict[str, Any]]) -> dict[str, Any]:
    """The message up to which nothing is missing (by seq). Two notifiers fan
    out independently, so live frames may arrive out of seq order: a client
    resyncs from the end of its gap-free prefix, then deduplicates by id."""
    by_seq = {m["seq"]: m for m in seen}
    seq = 1
    while seq + 1 in by_seq:
        seq += 1
    return by_seq[seq]


async def _reader(ws: Any, into: list[dict[str, Any]]) -> None:
    with contextlib.suppress(websockets.ConnectionClosed):
        async for raw in ws:
            frame = json.loads(raw)
            if frame["type"] == "new_message":
                into.append(frame["message"])


async def test_gateway_killed_clients_reconnect_to_the_other_and_resync(cluster: Cluster) -> None:
    api = cluster.apis[1].url
    doomed, survivor = cluster.gateways
    a, b = register(api), register(api)
    chat_id = open_chat(api, a, b)
    acked: list[dict[str, Any]] = []
    seen: list[dict[str, Any]] = []
    async with websockets.connect(f"{survivor.ws}?token={a.token}") as wa:
        wb = await websockets.connect(f"{doomed.ws}?token={b.token}")
        reader = asyncio.create_task(_reader(wb, seen))
        try:
            for i in range(3):
                acked.append(await send(wa, chat_id, f"before {i}"))
            async with asyncio.timeout(5):
                while len(seen) < 3:
                    await asyncio.sleep(0.02)
            doomed.signal(signal.SIGKILL)
            doomed.wait()
            async with asyncio.timeout(5):
                await reader  # b's socket is gone with its gateway
            for i in range(4):  # the sender keeps chatting while b is away
                acked.append(await send(wa, chat_id, f"while b reconnects {i}"))
            # b reconnects (to the surviving gateway) and resyncs from its last seen message.
            async with websockets.connect(f"{survivor.ws}?token={b.token}") as wb2:
                await wb2.send(json.dumps({"type": "ping"}))
                await next_of(wb2, "pong")
                seen.extend(history_after(api, b, chat_id, after_id=last_contiguous(seen)["id"]))
                before_reconnect = {m["id"] for m in acked}
                for i in range(3):
                    sent = await send(wa, chat_id, f"after {i}")
                    acked.append(sent)
                    # A message sent while b was away may still arrive live (its fan-out
                    # was retried or late); b already has it from history. Nothing else may.
                    while (got := (await next_of(wb2, "new_message"))["message"])["id"] != sent["id"]:
                        assert got["id"] in before_reconnect, got
                    seen.append(got)
        finally:
            reader.cancel()
            cluster.restart(doomed)
    merged = sorted({m["id"]: m for m in seen}.values(), key=lambda m: m["seq"])
    assert [m["id"] for m in merged] == [m["id"] for m in acked]
    assert [m["seq"] for m in merged] == list(range(1, 11))


async def test_through_haproxy(cluster: Cluster) -> None:
    haproxy = shutil.which("haproxy")
    if haproxy is None:
        pytest.skip("haproxy is not installed (bin/cluster installs it)")
    ports = {name: free_port() for name in ("LB_API_PORT", "LB_WS_PORT", "LB_STATS_PORT")}
    env = {
        "LB_HOST": "127.0.0.1",
        **{k: str(v) for k, v in ports.items()},
        "API1_ADDR": f"127.0.0.1:{cluster.apis[0].port}",
        "API2_ADDR": f"127.0.0.1:{cluster.apis[1].port}",
        "GW1_ADDR": f"127.0.0.1:{cluster.gateways[0].port}",
        "GW2_ADDR": f"127.0.0.1:{cluster.gateways[1].port}",
        "API2_STATE": "",
        "GW2_STATE": "",
    }
    config = str(ROOT / "deploy" / "cluster" / "haproxy.cfg")
    lb = Server("haproxy", [haproxy, "-db", "-f", config], ports["LB_WS_PORT"], env).start(cluster.log_dir)
    api = f"http://127.0.0.1:{ports['LB_API_PORT']}"
    ws = f"ws://127.0.0.1:{ports['LB_WS_PORT']}/ws"
    try:
        stats = ports["LB_STATS_PORT"]
        deadline = time.monotonic() + 15  # until the health checks see every instance up
        while time.monotonic() < deadline:
            if all(lb_stats(stats)[name]["status"] == "UP" for name in ("api1", "api2", "gw1", "gw2")):
                break
            await asyncio.sleep(0.2)
        a, b = register(api), register(api)
        chat_id = open_chat(api, a, b)
        async with websockets.connect(f"{ws}?token={a.token}") as wa, websockets.connect(f"{ws}?token={b.token}") as wb:
            sent = await send(wa, chat_id, "through the balancer")
            assert (await next_of(wb, "new_message"))["message"] == sent
            now = lb_stats(stats)
            assert now["gw1"]["scur"] == now["gw2"]["scur"] == "1"  # leastconn: one WebSocket on each gateway
        assert int(now["api1"]["stot"]) > 0 and int(now["api2"]["stot"]) > 0  # REST went round robin
        assert [m["id"] for m in history_after(api, b, chat_id)] == [sent["id"]]
    finally:
        lb.stop()
