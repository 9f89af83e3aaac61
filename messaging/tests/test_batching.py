"""The WebSocket send path's group commit on real PostgreSQL: batches, repeats,
bad rows, two gateways at once, and the snapshot trap of a batched statement."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import psycopg
import pytest
from channels.db import database_sync_to_async
from psycopg_pool import AsyncConnectionPool

from accounts.models import User
from chats.models import Chat, ChatMember
from chats.services import chat_get_or_create
from messaging.batching import Send, SendBatcher, SendResult, close_batcher, conninfo, message_send_async
from messaging.models import Message
from messaging.signals import messages_committed
from neonchat.errors import Conflict, NotFound, RateLimited
from neonchat.realtime import origin_var

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@pytest.fixture(autouse=True)
def _generous_rate_limit(settings: Any) -> None:
    settings.WS_MESSAGES_PER_SECOND = 10_000


@database_sync_to_async
def users_and_chat(n_users: int = 2) -> tuple[list[User], Chat]:
    users = [User.objects.create_user(f"b{uuid.uuid4().hex[:10]}", "correct-horse-battery") for _ in range(n_users)]
    return users, chat_get_or_create(user_id=users[0].pk, partner_id=users[1].pk)[0]


@database_sync_to_async
def seqs(chat: Chat) -> list[int]:
    return list(Message.objects.filter(chat=chat).order_by("seq").values_list("seq", flat=True))


@database_sync_to_async
def watermark(user: User, chat: Chat) -> int:
    return ChatMember.objects.get(user=user, chat=chat).last_read_seq


async def new_batcher(connections: int = 1) -> SendBatcher:
    pool = AsyncConnectionPool(conninfo(), min_size=1, max_size=connections, open=False, kwargs={"autocommit": True})
    await pool.open()
    return SendBatcher(pool, connections=connections)


def send(user: User, chat: Chat, text: str = "hi", request_id: uuid.UUID | None = None) -> Send:
    future: asyncio.Future[SendResult] = asyncio.get_running_loop().create_future()
    return Send(user.pk, chat.pk, text, request_id or uuid.uuid4(), "", future)


async def submit_all(batcher: SendBatcher, sends: list[Send]) -> list[Any]:
    return await asyncio.gather(*(batcher.submit(s) for s in sends), return_exceptions=True)


class Committed:
    """Records what each group commit announces for fan-out."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.origins: list[str] = []

        async def receive(messages: list[Any], **_: Any) -> None:
            self.batches.append([m.message["id"] for m in messages])
            self.origins.extend(m.origin for m in messages)

        self._receiver = receive

    def __enter__(self) -> Committed:
        messages_committed.connect(self._receiver)
        return self

    def __exit__(self, *exc: object) -> None:
        messages_committed.disconnect(self._receiver)


async def test_waiting_sends_go_in_one_batch_with_gap_free_seq_in_arrival_order() -> None:
    (alice, bob), chat = await users_and_chat()
    batcher = await new_batcher(connections=1)
    try:
        with Committed() as committed:
            sends = [send(alice if i % 2 else bob, chat, f"m{i}") for i in range(20)]
            results = await submit_all(batcher, sends)
    finally:
        await batcher.close()
    assert all(created for _, _, created, _ in results)
    assert [payload["seq"] for payload, *_ in results] == list(range(1, 21))  # arrival order
    assert [payload["text"] for payload, *_ in results] == [f"m{i}" for i in range(20)]
    assert await seqs(chat) == list(range(1, 21))
    assert [len(b) for b in committed.batches] == [20]  # all waited at the same moment
    assert sorted(results[0][1]) == sorted([str(alice.pk), str(bob.pk)])
    assert await watermark(alice, chat) == 20 and await watermark(bob, chat) == 19


async def test_a_lone_send_goes_at_once_and_the_next_batch_grows_while_one_is_in_flight() -> None:
    (alice, bob), chat = await users_and_chat()
    batcher = await new_batcher(connections=1)
    try:
        with Committed() as committed:
            await asyncio.wait_for(batcher.submit(send(alice, chat, "lone")), 5)  # nobody else came
            first = asyncio.ensure_future(batcher.submit(send(alice, chat, "first")))
            for _ in range(3):
                await asyncio.sleep(0)  # the first batch is now in flight on the only connection
            rest = await submit_all(batcher, [send(bob, chat, f"m{i}") for i in range(9)])
            await first
    finally:
        await batcher.close()
    assert [len(b) for b in committed.batches] == [1, 1, 9]
    assert [payload["seq"] for payload, *_ in rest] == list(range(3, 12))


async def test_repeats_within_and_across_batches_are_stored_and_announced_once() -> None:
    (alice, _bob), chat = await users_and_chat()
    batcher = await new_batcher(connections=1)
    rid = uuid.uuid4()
    try:
        with Committed() as committed:
            first = await submit_all(batcher, [send(alice, chat, "x", rid), send(alice, chat, "x", rid)])
            again = await submit_all(batcher, [send(alice, chat, "x", rid)])
    finally:
        await batcher.close()
    ids = {payload["id"] for payload, *_ in first + again}
    assert len(ids) == 1
    assert [created for _, _, created, _ in first + again] == [True, False, False]
    assert await seqs(chat) == [1]
    assert sum(len(b) for b in committed.batches) == 1


async def test_a_bad_row_fails_alone() -> None:
    (alice, bob, carol), chat = await users_and_chat(3)
    foreign = await database_sync_to_async(chat_get_or_create)(user_id=bob.pk, partner_id=carol.pk)
    used = uuid.uuid4()
    batcher = await new_batcher(connections=1)
    try:
        await batcher.submit(send(alice, chat, "used", used))
        results = await submit_all(
            batcher,
            [
                send(alice, chat, "ok 1"),
                send(alice, foreign[0], "not my chat"),
                send(alice, chat, "ok 2"),
                send(alice, foreign[0], "reused id", used),
                send(alice, chat, "ok 3"),
            ],
        )
    finally:
        await batcher.close()
    assert isinstance(results[1], NotFound) and results[1].code == "chat_not_found"
    assert isinstance(results[3], Conflict) and results[3].code == "request_id_reused"
    assert [results[i][0]["seq"] for i in (0, 2, 4)] == [2, 3, 4]
    assert await seqs(chat) == [1, 2, 3, 4]
    assert await seqs(foreign[0]) == []


async def test_two_gateways_sending_to_one_chat_at_once_keep_seq_gap_free() -> None:
    (alice, bob), chat = await users_and_chat()
    gateways = [await new_batcher(connections=3), await new_batcher(connections=3)]
    try:
        sends = [send(alice if i % 2 else bob, chat, f"m{i}") for i in range(200)]
        results = await asyncio.gather(*(gateways[i % 2].submit(s) for i, s in enumerate(sends)))
    finally:
        for gateway in gateways:
            await gateway.close()
    assert sorted(payload["seq"] for payload, *_ in results) == list(range(1, 201))
    assert await seqs(chat) == list(range(1, 201))


async def test_batches_over_many_chats_in_flight_together_do_not_deadlock() -> None:
    pairs = [await users_and_chat() for _ in range(6)]
    gateways = [await new_batcher(connections=4), await new_batcher(connections=4)]
    try:
        sends = [send(users[i % 2], chat, f"m{i}") for i in range(60) for users, chat in pairs]
        results = await asyncio.wait_for(
            asyncio.gather(*(gateways[i % 2].submit(s) for i, s in enumerate(sends))), timeout=30
        )
    finally:
        for gateway in gateways:
            await gateway.close()
    assert len(results) == 360
    for _, chat in pairs:
        assert await seqs(chat) == list(range(1, 61))


def _hold_in_other_session(sql: list[tuple[str, dict[str, Any]]]) -> psycopg.Connection[Any]:
    conn = psycopg.connect(conninfo())
    for statement, params in sql:
        conn.execute(statement, params)
    return conn  # the transaction stays open until the test commits it


async def test_a_repeat_committed_while_the_batch_waits_on_the_chat_lock_is_seen() -> None:
    """The batch's statement takes its snapshot after the chat locks: a send of
    the same request_id that commits meanwhile is the original, not a second row."""
    (alice, bob), chat = await users_and_chat()
    rid = uuid.uuid4()
    other = await asyncio.to_thread(
        _hold_in_other_session,
        [
            ("SELECT 1 FROM chats WHERE id = %(c)s FOR UPDATE", {"c": chat.pk}),
            ("UPDATE chats SET last_seq = last_seq + 1 WHERE id = %(c)s", {"c": chat.pk}),
            (
                "INSERT INTO messages (id, chat_id, sender_id, text, seq, request_id, created_at, updated_at) "
                "VALUES (gen_random_uuid(), %(c)s, %(s)s, 'first', 1, %(r)s, now(), now())",
                {"c": chat.pk, "s": alice.pk, "r": rid},
            ),
        ],
    )
    batcher = await new_batcher(connections=1)
    try:
        pending = asyncio.gather(batcher.submit(send(alice, chat, "first", rid)), batcher.submit(send(bob, chat)))
        await asyncio.sleep(0.3)  # the batch now waits on the row lock
        assert not pending.done()
        await asyncio.to_thread(other.commit)
        (repeat, repeat_members, created, _), fresh = await asyncio.wait_for(pending, 10)
    finally:
        other.close()
        await batcher.close()
    assert created is False and repeat["text"] == "first" and repeat["seq"] == 1
    assert fresh[0]["seq"] == 2 and fresh[2] is True
    assert await seqs(chat) == [1, 2]


async def test_a_concurrent_repeat_for_another_chat_fails_that_row_only() -> None:
    """Another session stores (alice, rid) in chat B, uncommitted, while a batch
    sends (alice, rid) to chat A: the unique index stops the batch; the retry
    sees the original and answers request_id_reused for that row only."""
    (alice, bob, carol), chat = await users_and_chat(3)
    chat_b = (await database_sync_to_async(chat_get_or_create)(user_id=alice.pk, partner_id=carol.pk))[0]
    rid = uuid.uuid4()
    other = await asyncio.to_thread(
        _hold_in_other_session,
        [
            ("UPDATE chats SET last_seq = last_seq + 1 WHERE id = %(c)s", {"c": chat_b.pk}),
            (
                "INSERT INTO messages (id, chat_id, sender_id, text, seq, request_id, created_at, updated_at) "
                "VALUES (gen_random_uuid(), %(c)s, %(s)s, 'in b', 1, %(r)s, now(), now())",
                {"c": chat_b.pk, "s": alice.pk, "r": rid},
            ),
        ],
    )
    batcher = await new_batcher(connections=1)
    try:
        pending = asyncio.gather(
            batcher.submit(send(alice, chat, "in a", rid)), batcher.submit(send(bob, chat)), return_exceptions=True
        )
        await asyncio.sleep(0.3)  # the INSERT waits on the other session's index entry
        await asyncio.to_thread(other.commit)
        reused, fresh = await asyncio.wait_for(pending, 10)
    finally:
        other.close()
        await batcher.close()
    assert isinstance(reused, Conflict) and reused.code == "request_id_reused"
    assert not isinstance(fresh, BaseException) and fresh[0]["seq"] == 1
    assert await seqs(chat) == [1]


async def test_the_rate_limit_is_exact_within_a_batch(settings: Any) -> None:
    settings.WS_MESSAGES_PER_SECOND = 3  # burst 6
    (alice, bob), chat = await users_and_chat()
    batcher = await new_batcher(connections=1)
    try:
        await batcher.submit(send(bob, chat))  # occupies the slot while the next batch gathers
        results = await submit_all(batcher, [send(alice, chat, f"m{i}") for i in range(10)])
    finally:
        await batcher.close()
    limited = [isinstance(r, RateLimited) for r in results]
    assert limited == [False] * 6 + [True] * 4
    assert len(await seqs(chat)) == 7


async def test_message_send_async_tags_the_origin_and_validates_text() -> None:
    (alice, _bob), chat = await users_and_chat()
    with Committed() as committed:
        token = origin_var.set("specific.conn-1")
        try:
            payload, created = await message_send_async(
                sender_id=alice.pk, chat_id=chat.pk, text="hello", request_id=uuid.uuid4()
            )
            with pytest.raises(Exception, match="empty"):
                await message_send_async(sender_id=alice.pk, chat_id=chat.pk, text="  ", request_id=uuid.uuid4())
        finally:
            origin_var.reset(token)
        await close_batcher()  # waits for the batch's announcement
    assert created and payload["text"] == "hello" and payload["seq"] == 1
    assert committed.origins == ["specific.conn-1"]
    assert committed.batches == [[payload["id"]]]
