"""Groups over the WebSocket (contract addendum): fan-out to every member, typing and
reads to the others, chat_created/updated/removed frames, a removed member cut off at once."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import override_settings

from accounts.models import User
from accounts.services import token_issue
from chats.models import Chat
from chats.services import chat_get_or_create
from messaging.groups import group_create, group_member_remove, group_members_add
from messaging.tests.test_consumers import close_code, connect, frames_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@database_sync_to_async
def make_group(size: int = 3) -> tuple[list[User], Chat, list[str]]:
    users = [User.objects.create_user(f"g{uuid.uuid4().hex[:8]}", "correct-horse-battery") for _ in range(size)]
    chat = group_create(user_id=users[0].pk, title="Trip", member_ids=[u.pk for u in users[1:]])
    return users, chat, [token_issue(user=u)[0] for u in users]


async def quiet(comm: WebsocketCommunicator, timeout: float = 0.3) -> bool:
    """Nothing but presence arrives within ``timeout`` (after a ping round trip)."""
    await comm.send_json_to({"type": "ping"})
    await frames_until(comm, "pong")
    return await comm.receive_nothing(timeout=timeout)


def say(chat: Chat, text: str) -> dict[str, Any]:
    return {"type": "message", "chat_id": str(chat.pk), "text": text, "request_id": str(uuid.uuid4())}


async def test_new_message_reaches_every_connection_of_every_member_but_the_sending_one() -> None:
    (a, b, c), chat, (ta, tb, tc) = await make_group()
    a1, a2, b1, c1 = await connect(ta), await connect(ta), await connect(tb), await connect(tc)
    await a1.send_json_to(say(chat, "hi all"))
    ack = await frames_until(a1, "message_sent")
    assert ack["message"]["seq"] == 2 and ack["message"]["kind"] == "text"  # seq 1: chat_created
    for other in (a2, b1, c1):
        assert (await frames_until(other, "new_message"))["message"]["id"] == ack["message"]["id"]
    assert await quiet(a1)
    for comm in (a1, a2, b1, c1):
        await comm.disconnect()


@override_settings(TYPING_TTL=5)
async def test_typing_and_read_go_to_the_other_members_with_the_readers_id() -> None:
    (a, b, c), chat, (ta, tb, tc) = await make_group()
    a1, b1, c1 = await connect(ta), await connect(tb), await connect(tc)
    await b1.send_json_to({"type": "typing", "chat_id": str(chat.pk), "is_typing": True})
    for other in (a1, c1):
        typing = await frames_until(other, "typing")
        assert (typing["user_id"], typing["chat_id"], typing["is_typing"]) == (str(b.pk), str(chat.pk), True)
    await a1.send_json_to(say(chat, "read me"))
    message = (await frames_until(a1, "message_sent"))["message"]
    await c1.send_json_to({"type": "read", "chat_id": str(chat.pk), "message_id": message["id"]})
    for other in (a1, b1):
        read = await frames_until(other, "read")
        assert (read["user_id"], read["message_id"], read["seq"]) == (str(c.pk), message["id"], message["seq"])
    for comm in (a1, b1, c1):
        await comm.disconnect()


async def test_a_removed_member_is_cut_off_at_once_and_a_scoped_socket_closes_4403() -> None:
    (a, b, c), chat, (ta, tb, tc) = await make_group()
    a1, b1, c_all = await connect(ta), await connect(tb), await connect(tc)
    c_scoped = await connect(tc, query=f"&chat_id={chat.pk}")
    await database_sync_to_async(group_member_remove)(user_id=a.pk, chat_id=chat.pk, target_id=c.pk)
    assert (await frames_until(c_all, "chat_removed"))["chat_id"] == str(chat.pk)
    assert (await frames_until(c_scoped, "chat_removed"))["chat_id"] == str(chat.pk)
    assert await close_code(c_scoped) == 4403
    updated = await frames_until(b1, "chat_updated")
    assert updated["chat"]["members_count"] == 2 and updated["chat"]["partner"] is None
    event = (await frames_until(b1, "new_message"))["message"]
    assert event["kind"] == "event" and event["event"]["type"] == "member_removed"
    await a1.send_json_to(say(chat, "after the removal"))
    await frames_until(a1, "message_sent")
    assert (await frames_until(b1, "new_message"))["message"]["text"] == "after the removal"
    assert await quiet(c_all)  # no new_message, no event for c any more
    await c_all.send_json_to(say(chat, "let me in"))
    assert (await frames_until(c_all, "error"))["code"] == "chat_not_found"
    for comm in (a1, b1, c_all):
        await comm.disconnect()


async def test_an_added_member_gets_chat_created_with_their_view_of_the_chat() -> None:
    (a, b), chat, (ta, tb) = await make_group(2)
    d = await database_sync_to_async(User.objects.create_user)(f"d{uuid.uuid4().hex[:8]}", "correct-horse-battery")
    d1 = await connect((await database_sync_to_async(token_issue)(user=d))[0])
    b1 = await connect(tb)
    await database_sync_to_async(group_members_add)(user_id=a.pk, chat_id=chat.pk, user_ids=[d.pk])
    created = (await frames_until(d1, "chat_created"))["chat"]
    assert (created["id"], created["kind"], created["title"], created["members_count"]) == (
        str(chat.pk),
        "group",
        "Trip",
        3,
    )
    assert created["unread_count"] == 0 and created["last_read_seq"] == 2
    assert (await frames_until(d1, "new_message"))["message"]["event"]["type"] == "member_added"
    assert (await frames_until(b1, "chat_updated"))["chat"]["members_count"] == 3
    await d1.send_json_to({"type": "typing", "chat_id": str(chat.pk), "is_typing": True})
    assert (await frames_until(b1, "typing"))["user_id"] == str(d.pk)
    for comm in (d1, b1):
        await comm.disconnect()


async def test_presence_reaches_group_co_members_once_however_many_chats_they_share() -> None:
    (a, b, c), chat, (ta, tb, tc) = await make_group()
    await database_sync_to_async(chat_get_or_create)(user_id=a.pk, partner_id=b.pk)
    b1, c1 = await connect(tb), await connect(tc)
    a1 = await connect(ta)
    for watcher in (b1, c1):
        seen = []
        await asyncio.sleep(0.3)
        await watcher.send_json_to({"type": "ping"})
        while (frame := json.loads(await watcher.receive_from(timeout=3)))["type"] != "pong":
            if frame["type"] == "presence" and frame["user_id"] == str(a.pk):
                seen.append(frame["event"])
        assert seen == ["user_online"]  # once, though b shares two chats with a
    for comm in (a1, b1, c1):
        await comm.disconnect()


async def test_a_group_scoped_socket_gets_the_presence_of_that_groups_members_only() -> None:
    (a, b, c), chat, (ta, tb, tc) = await make_group()
    d = await database_sync_to_async(User.objects.create_user)(f"d{uuid.uuid4().hex[:8]}", "correct-horse-battery")
    await database_sync_to_async(chat_get_or_create)(user_id=a.pk, partner_id=d.pk)  # a and d share a direct chat
    td = await database_sync_to_async(lambda: token_issue(user=d)[0])()
    scoped, unscoped = await connect(ta, query=f"&chat_id={chat.pk}"), await connect(ta)
    d1 = await connect(td)
    assert (await frames_until(unscoped, "presence"))["user_id"] == str(d.pk)
    b1 = await connect(tb)
    online = await frames_until(scoped, "presence")
    assert (online["event"], online["user_id"]) == ("user_online", str(b.pk))  # d's came first, and was not sent
    assert await quiet(scoped)
    for comm in (scoped, unscoped, d1, b1):
        await comm.disconnect()
