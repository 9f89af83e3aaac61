"""The WebSocket protocol through Channels' WebsocketCommunicator (real Redis
channel layer, real PostgreSQL; the consumer's DB work runs in its thread)."""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.test import override_settings
from prometheus_client import REGISTRY

from accounts.models import User
from accounts.selectors import token_claims
from accounts.services import token_issue, token_revoke, user_set_banned
from chats.models import Chat
from chats.services import chat_get_or_create
from messaging.models import Message
from messaging.routing import websocket_urlpatterns

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

APP = URLRouter(websocket_urlpatterns)


@database_sync_to_async
def make_pair() -> tuple[User, User, Chat, str, str]:
    a = User.objects.create_user(f"a{uuid.uuid4().hex[:8]}", "correct-horse-battery")
    b = User.objects.create_user(f"b{uuid.uuid4().hex[:8]}", "correct-horse-battery")
    chat = chat_get_or_create(user_id=a.pk, partner_id=b.pk)[0]
    return a, b, chat, token_issue(user=a)[0], token_issue(user=b)[0]


async def connect(
    token: str, *, query: str = "", headers: list[tuple[bytes, bytes]] | None = None
) -> WebsocketCommunicator:
    path = f"/ws?token={token}{query}" if token else f"/ws{query}"
    comm = WebsocketCommunicator(APP, path, headers=headers or [])
    connected, _ = await comm.connect(timeout=5)
    assert connected
    return comm


async def frames_until(comm: WebsocketCommunicator, wanted: str, timeout: float = 3) -> dict[str, Any]:
    """The next frame of type ``wanted``, skipping others (e.g. presence)."""
    while True:
        frame = json.loads(await comm.receive_from(timeout=timeout))
        if frame["type"] == wanted:
            return frame


async def close_code(comm: WebsocketCommunicator) -> int:
    output = await comm.receive_output(timeout=5)
    assert output["type"] == "websocket.close"
    return int(output.get("code", 1000))


async def test_send_ack_and_delivery_to_every_device_but_the_sender() -> None:
    a, b, chat, ta, tb = await make_pair()
    a1, a2, b1 = await connect(ta), await connect(ta), await connect(tb)
    request_id = str(uuid.uuid4())
    await a1.send_json_to({"type": "message", "chat_id": str(chat.pk), "text": "hi", "request_id": request_id})
    ack = await frames_until(a1, "message_sent")
    assert ack["request_id"] == request_id and ack["status"] == "delivered"
    assert ack["message"]["seq"] == 1 and ack["message"]["text"] == "hi"
    for other in (a2, b1):
        frame = await frames_until(other, "new_message")
        assert frame["message"]["id"] == ack["message"]["id"]
    # the sending connection does not get its own message back
    await a1.send_json_to({"type": "ping"})
    assert (await frames_until(a1, "pong"))["type"] == "pong"
    assert await a1.receive_nothing(timeout=0.2)
    for comm in (a1, a2, b1):
        await comm.disconnect()


async def test_repeated_request_id_is_acknowledged_again_and_stored_once() -> None:
    a, b, chat, ta, tb = await make_pair()
    a1, b1 = await connect(ta), await connect(tb)
    frame = {"type": "message", "chat_id": str(chat.pk), "text": "once", "request_id": str(uuid.uuid4())}
    await a1.send_json_to(frame)
    first = await frames_until(a1, "message_sent")
    await a1.send_json_to(frame)
    second = await frames_until(a1, "message_sent")
    assert first["message"] == second["message"]
    assert await database_sync_to_async(Message.objects.filter(chat=chat).count)() == 1
    await frames_until(b1, "new_message")
    await b1.send_json_to({"type": "ping"})
    assert (json.loads(await b1.receive_from()))["type"] == "pong"  # no second new_message
    await a1.disconnect()
    await b1.disconnect()


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("not json", "invalid_json"),
        ("[1, 2]", "invalid_frame"),
        ('{"type": "nope"}', "unknown_type"),
        ('{"no": "type"}', "unknown_type"),
        (
            '{"type": "message", "text": "x", "request_id": "not-a-uuid", "chat_id": "00000000-0000-0000-0000-000000000000"}',
            "invalid_field",
        ),
        ('{"type": "typing", "chat_id": "00000000-0000-0000-0000-000000000000", "is_typing": "yes"}', "invalid_field"),
        ('{"type": "presence", "status": "busy"}', "invalid_field"),
        ('{"type": "read", "chat_id": 5, "message_id": "x"}', "invalid_field"),
    ],
)
async def test_bad_frames_get_an_error_and_the_connection_stays(raw: str, code: str) -> None:
    _, _, _, ta, _ = await make_pair()
    comm = await connect(ta)
    await comm.send_to(text_data=raw)
    error = await frames_until(comm, "error")
    assert error["code"] == code
    await comm.send_json_to({"type": "ping"})
    assert (await frames_until(comm, "pong"))["type"] == "pong"
    await comm.disconnect()


async def test_oversized_frame_and_bad_text_are_refused_and_nothing_is_stored() -> None:
    _, _, chat, ta, _ = await make_pair()
    comm = await connect(ta)
    await comm.send_to(text_data=json.dumps({"type": "message", "text": "x" * 70_000}))
    assert (await frames_until(comm, "error"))["code"] == "frame_too_large"
    rid = str(uuid.uuid4())
    for text, code in (("   ", "empty_text"), ("y" * 4097, "text_too_long")):
        await comm.send_json_to({"type": "message", "chat_id": str(chat.pk), "text": text, "request_id": rid})
        error = await frames_until(comm, "error")
        assert (error["code"], error["request_id"]) == (code, rid)
    assert await database_sync_to_async(Message.objects.count)() == 0
    await comm.disconnect()


async def test_message_to_a_foreign_chat_is_not_found_and_leaks_nothing() -> None:
    _, _, _, ta, _ = await make_pair()
    _, _, other_chat, _, tc = await make_pair()
    comm, victim = await connect(ta), await connect(tc)
    rid = str(uuid.uuid4())
    await comm.send_json_to({"type": "message", "chat_id": str(other_chat.pk), "text": "x", "request_id": rid})
    error = await frames_until(comm, "error")
    assert error["code"] == "chat_not_found" and error["request_id"] == rid
    assert await victim.receive_nothing(timeout=0.3)
    await comm.disconnect()
    await victim.disconnect()


async def test_bad_token_closes_4401_and_foreign_chat_scope_closes_4403() -> None:
    _, _, _, ta, _ = await make_pair()
    _, _, other_chat, _, _ = await make_pair()
    for token in ("", "garbage", ta[:-2] + "xx"):
        assert await close_code(await connect(token)) == 4401
    assert await close_code(await connect(ta, query=f"&chat_id={other_chat.pk}")) == 4403
    assert await close_code(await connect(ta, query="&chat_id=not-a-uuid")) == 4403


async def test_token_in_authorization_header_is_accepted() -> None:
    _, _, _, ta, _ = await make_pair()
    comm = await connect("", headers=[(b"authorization", f"Bearer {ta}".encode())])
    await comm.send_json_to({"type": "ping"})
    assert (await frames_until(comm, "pong"))["type"] == "pong"
    await comm.disconnect()


async def test_foreign_origin_is_refused_and_allowed_origin_accepted() -> None:
    _, _, _, ta, _ = await make_pair()
    refused = WebsocketCommunicator(APP, f"/ws?token={ta}", headers=[(b"origin", b"https://evil.example")])
    connected, _ = await refused.connect(timeout=5)
    assert not connected
    allowed = await connect(ta, headers=[(b"origin", b"http://127.0.0.1:8080")])
    await allowed.disconnect()


@pytest.mark.parametrize("host", [b"evil.example", b"evil.example:8082", b"127.0.0.1.evil.example", b""])
async def test_a_handshake_for_a_host_not_allowed_is_refused(host: bytes) -> None:
    _, _, _, ta, _ = await make_pair()
    refused = WebsocketCommunicator(APP, f"/ws?token={ta}", headers=[(b"host", host)])
    connected, _ = await refused.connect(timeout=5)
    assert not connected
    for allowed_host in (b"127.0.0.1:8082", b"localhost", b"[::1]:8082"):
        allowed = await connect(ta, headers=[(b"host", allowed_host)])
        await allowed.disconnect()


async def test_logout_and_ban_close_open_sockets_with_4401() -> None:
    a, b, _, ta, tb = await make_pair()
    other_token_of_a = (await database_sync_to_async(token_issue)(user=a))[0]
    revoked, survivor = await connect(ta), await connect(other_token_of_a)
    claims = await database_sync_to_async(token_claims)(ta)
    await database_sync_to_async(token_revoke)(claims=claims)
    assert await close_code(revoked) == 4401
    await survivor.send_json_to({"type": "ping"})
    assert (await frames_until(survivor, "pong"))["type"] == "pong"
    assert await close_code(await connect(ta)) == 4401  # revoked token cannot reconnect
    banned = await connect(tb)
    await database_sync_to_async(user_set_banned)(user=b, banned=True)
    assert await close_code(banned) == 4401
    await survivor.disconnect()


async def test_scoped_connection_gets_only_its_chat() -> None:
    a, b, chat, ta, tb = await make_pair()
    c = await database_sync_to_async(User.objects.create_user)(f"c{uuid.uuid4().hex[:8]}", "correct-horse-battery")
    chat2 = (await database_sync_to_async(chat_get_or_create)(user_id=a.pk, partner_id=c.pk))[0]
    tc = (await database_sync_to_async(token_issue)(user=c))[0]
    scoped = await connect(ta, query=f"&chat_id={chat.pk}")
    sender_c = await connect(tc)
    await sender_c.send_json_to(
        {"type": "message", "chat_id": str(chat2.pk), "text": "other", "request_id": str(uuid.uuid4())}
    )
    await frames_until(sender_c, "message_sent")
    # default chat for sends is the scoped one
    await scoped.send_json_to({"type": "message", "text": "scoped", "request_id": str(uuid.uuid4())})
    ack = await frames_until(scoped, "message_sent")
    assert ack["message"]["chat_id"] == str(chat.pk)
    await scoped.send_json_to({"type": "ping"})
    assert (await frames_until(scoped, "pong"))["type"] == "pong"
    assert await scoped.receive_nothing(timeout=0.3)  # chat2's message never arrived
    await scoped.disconnect()
    await sender_c.disconnect()


async def test_read_frame_moves_watermark_and_notifies_partner() -> None:
    a, b, chat, ta, tb = await make_pair()
    a1, b1 = await connect(ta), await connect(tb)
    await a1.send_json_to(
        {"type": "message", "chat_id": str(chat.pk), "text": "read me", "request_id": str(uuid.uuid4())}
    )
    message = (await frames_until(a1, "message_sent"))["message"]
    await frames_until(b1, "new_message")
    await b1.send_json_to({"type": "read", "chat_id": str(chat.pk), "message_id": message["id"]})
    read = await frames_until(a1, "read")
    assert read == {
        "type": "read",
        "chat_id": str(chat.pk),
        "user_id": str(b.pk),
        "message_id": message["id"],
        "seq": 1,
    }
    await a1.disconnect()
    await b1.disconnect()


@override_settings(TYPING_TTL=0.3)
async def test_typing_reaches_partner_only_and_expires_by_itself() -> None:
    a, b, chat, ta, tb = await make_pair()
    a1, a2, b1 = await connect(ta), await connect(ta), await connect(tb)
    await a1.send_json_to({"type": "typing", "chat_id": str(chat.pk), "is_typing": True})
    started = await frames_until(b1, "typing")
    assert (started["user_id"], started["is_typing"]) == (str(a.pk), True)
    stopped = await frames_until(b1, "typing", timeout=3)
    assert stopped["is_typing"] is False
    await a2.send_json_to({"type": "ping"})
    assert (await frames_until(a2, "pong"))["type"] == "pong"
    assert await a2.receive_nothing(timeout=0.2)  # the typist's other device got nothing
    for comm in (a1, a2, b1):
        await comm.disconnect()


async def test_presence_online_once_offline_after_last_device() -> None:
    a, b, chat, ta, tb = await make_pair()
    watcher = await connect(tb)
    first = await connect(ta)
    online = await frames_until(watcher, "presence")
    assert (online["event"], online["user_id"]) == ("user_online", str(a.pk))
    second = await connect(ta)
    await first.disconnect()
    await watcher.send_json_to({"type": "ping"})
    assert (await frames_until(watcher, "pong"))["type"] == "pong"
    assert await watcher.receive_nothing(timeout=0.2)  # still online through the second device
    await second.send_json_to({"type": "presence", "status": "away"})
    assert (await frames_until(watcher, "presence"))["event"] == "user_away"
    await second.disconnect()
    offline = await frames_until(watcher, "presence")
    assert (offline["event"], offline["user_id"]) == ("user_offline", str(a.pk))
    refreshed = await database_sync_to_async(User.objects.get)(pk=a.pk)
    assert refreshed.last_seen_at is not None
    await watcher.disconnect()


@override_settings(WS_MESSAGES_PER_SECOND=2)
async def test_flooding_gets_rate_limited() -> None:
    _, _, chat, ta, _ = await make_pair()
    comm = await connect(ta)
    for _ in range(8):
        await comm.send_json_to(
            {"type": "message", "chat_id": str(chat.pk), "text": "f", "request_id": str(uuid.uuid4())}
        )
    replies = [json.loads(await comm.receive_from(timeout=3)) for _ in range(8)]
    codes = [r.get("code") for r in replies if r["type"] == "error"]
    assert "rate_limited" in codes
    assert sum(r["type"] == "message_sent" for r in replies) <= 4  # burst = 2 x rate
    await comm.disconnect()


@pytest.mark.parametrize("request_id", ["not-a-uuid", "x" * 10_000, "<script>alert(1)</script>"])
async def test_an_invalid_request_id_is_not_echoed(request_id: str) -> None:
    _, _, chat, ta, _ = await make_pair()
    comm = await connect(ta)
    await comm.send_json_to({"type": "message", "chat_id": str(chat.pk), "text": "x", "request_id": request_id})
    error = await frames_until(comm, "error")
    assert (error["code"], error["request_id"]) == ("invalid_field", None)
    await comm.disconnect()


async def test_deeply_nested_frames_get_an_error_and_the_socket_stays_open() -> None:
    _, _, _, ta, _ = await make_pair()
    comm = await connect(ta)
    for depth in (33, 1000, 5000):
        await comm.send_to(text_data='{"type": "ping", "x": ' + "[" * depth + "]" * depth + "}")
        reply = json.loads(await comm.receive_from(timeout=3))
        assert (reply["type"], reply["code"]) == ("error", "invalid_json"), reply
    await comm.send_to(text_data='{"type": "ping", "x": ' + "[" * 30 + "]" * 30 + "}")
    assert (await frames_until(comm, "pong"))["type"] == "pong"
    await comm.disconnect()


async def test_a_presence_flood_is_rate_limited_and_partners_see_a_few_events() -> None:
    a, _, _, ta, tb = await make_pair()
    watcher = await connect(tb)
    flooder = await connect(ta)
    await frames_until(watcher, "presence")  # a came online
    for index in range(200):
        await flooder.send_json_to({"type": "presence", "status": ("away", "online")[index % 2]})
    replies: list[dict[str, Any]] = []
    while len(replies) < 190:  # b's own coming online may reach a after a connected: not a reply
        frame = json.loads(await flooder.receive_from(timeout=3))
        if frame["type"] != "presence":
            replies.append(frame)
    assert all(r == {**r, "type": "error", "code": "rate_limited"} for r in replies), replies[:3]
    seen = []
    while not await watcher.receive_nothing(timeout=0.5):
        seen.append(json.loads(await watcher.receive_from()))
    assert 1 <= len(seen) <= 6, seen  # the bucket's burst, then about one a second
    assert all(f["type"] == "presence" and f["user_id"] == str(a.pk) for f in seen)
    for comm in (flooder, watcher):
        await comm.disconnect()


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "ping"},
        {"type": "typing", "is_typing": True},
        {"type": "read", "message_id": "00000000-0000-0000-0000-000000000000"},
    ],
)
async def test_every_other_frame_type_is_rate_limited_per_user(frame: dict[str, Any]) -> None:
    _, _, chat, ta, _ = await make_pair()
    first, second = await connect(ta), await connect(ta)  # the limit is per user, not per connection
    frame = {**frame, "chat_id": str(chat.pk)} if frame["type"] != "ping" else frame
    for comm in (first, second):
        for _ in range(30):
            await comm.send_json_to(frame)
    codes = []
    for comm in (first, second):
        while not await comm.receive_nothing(timeout=1.0):
            reply = json.loads(await comm.receive_from())
            codes.append(reply.get("code") if reply["type"] == "error" else reply["type"])
    # 60 frames against a burst of 10-20 and 5-10 a second: most are refused.
    assert codes.count("rate_limited") >= 15, codes
    for comm in (first, second):
        await comm.disconnect()


@override_settings(WS_MAX_CONNECTIONS=1)
async def test_connection_limit_refuses_cleanly() -> None:
    _, _, _, ta, _ = await make_pair()
    first = await connect(ta)
    assert await close_code(await connect(ta)) == 1013
    await first.disconnect()
    await asyncio.sleep(0)


@override_settings(WS_MAX_CONNECTIONS_PER_USER=2)
async def test_per_user_cap_refuses_the_next_socket_with_4429_and_keeps_the_others() -> None:
    _, _, _, ta, tb = await make_pair()
    first, second = await connect(ta), await connect(ta)
    assert await close_code(await connect(ta)) == 4429
    for comm in (first, second):  # the two held sockets are untouched
        await comm.send_json_to({"type": "ping"})
        assert (await frames_until(comm, "pong"))["type"] == "pong"
    other = await connect(tb)  # another account is not affected
    await second.disconnect()
    third = await connect(ta)  # a freed slot can be taken again
    await third.send_json_to({"type": "ping"})
    assert (await frames_until(third, "pong"))["type"] == "pong"
    for comm in (first, third, other):
        await comm.disconnect()


async def test_pipelined_frames_are_answered_in_the_order_sent() -> None:
    _, _, chat, ta, _ = await make_pair()
    comm = await connect(ta)
    request_ids = [str(uuid.uuid4()) for _ in range(5)]
    for request_id in request_ids:
        await comm.send_json_to({"type": "message", "chat_id": str(chat.pk), "text": "p", "request_id": request_id})
        # the same request_id with a bad chat_id: refused at once, but answered after the ack before it
        await comm.send_json_to({"type": "message", "chat_id": "x", "text": "p", "request_id": request_id})
    await comm.send_json_to({"type": "ping"})
    replies: list[dict[str, Any]] = []
    while not replies or replies[-1]["type"] != "pong":
        reply = json.loads(await comm.receive_from(timeout=5))
        if reply["type"] != "presence":
            replies.append(reply)
    assert [(r["type"], r.get("request_id")) for r in replies] == [
        *((kind, request_id) for request_id in request_ids for kind in ("message_sent", "error")),
        ("pong", None),
    ]
    assert [r["message"]["seq"] for r in replies if r["type"] == "message_sent"] == [1, 2, 3, 4, 5]
    await comm.disconnect()


def _lock_chat_row(chat_id: uuid.UUID, locked: threading.Event, release: threading.Event) -> None:
    """Hold the chat's row lock from a second PostgreSQL session until ``release``."""
    import psycopg
    from django.db import connection

    db = connection.settings_dict
    conninfo = {
        "dbname": db["NAME"],
        "host": db["HOST"],
        "port": db["PORT"],
        "user": db["USER"],
        "password": db["PASSWORD"] or None,
    }
    with psycopg.connect(**conninfo) as session, session.transaction():
        session.execute("SELECT 1 FROM chats WHERE id = %s FOR UPDATE", [chat_id])
        locked.set()
        release.wait(10)


async def test_events_keep_flowing_while_a_send_waits_on_postgresql() -> None:
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("row locks: PostgreSQL only")
    _, _, chat, ta, tb = await make_pair()
    a1, b1 = await connect(ta), await connect(tb)
    locked, release = threading.Event(), threading.Event()
    holder = threading.Thread(target=_lock_chat_row, args=(chat.pk, locked, release))
    holder.start()
    try:
        assert await asyncio.to_thread(locked.wait, 5)
        await a1.send_json_to(
            {"type": "message", "chat_id": str(chat.pk), "text": "w", "request_id": str(uuid.uuid4())}
        )
        await asyncio.sleep(0.2)  # the send is now waiting on the row lock
        await b1.send_json_to({"type": "typing", "chat_id": str(chat.pk), "is_typing": True})
        typing = await frames_until(a1, "typing")  # delivered although A's send still waits
        assert typing["is_typing"] is True
        assert await Message.objects.filter(chat=chat).acount() == 0
    finally:
        release.set()
        await asyncio.to_thread(holder.join, 10)
    ack = await frames_until(a1, "message_sent")
    assert ack["message"]["seq"] == 1
    await a1.disconnect()
    await b1.disconnect()


async def test_frames_and_events_do_not_hop_to_the_sync_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """Channels' dispatch closes stale ORM connections on the one sync thread before
    every message; the consumer's frames and events skip that hop."""
    hops: list[str] = []

    async def counted() -> None:
        hops.append("close_old_connections")

    monkeypatch.setattr("channels.consumer.aclose_old_connections", counted)
    a, b, chat, token_a, token_b = await make_pair()
    comm_a, comm_b = await connect(token_a), await connect(token_b)
    hops.clear()
    for _ in range(5):
        await comm_a.send_json_to({"type": "ping"})
        await frames_until(comm_a, "pong")
    rid = str(uuid.uuid4())
    await comm_a.send_json_to({"type": "message", "chat_id": str(chat.pk), "text": "hi", "request_id": rid})
    await frames_until(comm_a, "message_sent")
    await frames_until(comm_b, "new_message")
    assert hops == []
    await comm_a.disconnect()
    await comm_b.disconnect()


async def test_every_ended_connection_releases_its_channel() -> None:
    """The consumer's channel on the pub/sub layer (a queue here, a subscription in
    Redis) is forgotten however the connection ends: closed by the client, closed
    by the server from an event (logout), or refused at the handshake."""
    loop_layer = get_channel_layer()._get_layer()
    before = set(loop_layer.channels)
    a, _, _, ta, tb = await make_pair()
    by_client, by_server = await connect(ta), await connect(tb)
    assert len(set(loop_layer.channels) - before) == 2
    await by_client.disconnect()
    claims = await database_sync_to_async(token_claims)(tb)
    await database_sync_to_async(token_revoke)(claims=claims)
    while (output := await by_server.receive_output(timeout=5))["type"] == "websocket.send":
        pass  # a's presence going offline
    assert output == {"type": "websocket.close", "code": 4401}
    await by_server.disconnect()
    assert await close_code(await connect("garbage")) == 4401
    for _ in range(50):
        if set(loop_layer.channels) == before:
            break
        await asyncio.sleep(0.02)
    assert set(loop_layer.channels) - before == set()


async def test_a_websocket_send_counts_once_in_chat_messages_sent_total() -> None:
    def sent(status: str) -> float:
        labels = {"chat_type": "direct", "status": status}
        return REGISTRY.get_sample_value("chat_messages_sent_total", labels) or 0.0

    a, b, chat, ta, tb = await make_pair()
    created, duplicate = sent("created"), sent("duplicate")
    a1 = await connect(ta)
    frame = {"type": "message", "chat_id": str(chat.pk), "text": "counted", "request_id": str(uuid.uuid4())}
    for _ in range(2):
        await a1.send_json_to(frame)
        await frames_until(a1, "message_sent")
    await a1.disconnect()
    assert (sent("created"), sent("duplicate")) == (created + 1, duplicate + 1)
