"""Races on real PostgreSQL (committed transactions, one connection per thread)."""

from __future__ import annotations

import uuid

import pytest

from accounts.models import User
from chats.models import Chat, ChatMember
from chats.services import chat_get_or_create
from messaging.models import Message
from messaging.services import message_send
from neonchat.tests.support import run_parallel

pytestmark = pytest.mark.django_db(transaction=True)


def test_parallel_chat_creation_of_one_pair_makes_one_chat(alice: User, bob: User) -> None:
    def create(index: int) -> tuple[str, bool]:
        me, partner = (alice, bob) if index % 2 else (bob, alice)
        chat, created = chat_get_or_create(user_id=me.pk, partner_id=partner.pk)
        return str(chat.pk), created

    results = run_parallel(20, create)
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, errors
    assert len({chat_id for chat_id, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    assert Chat.objects.count() == 1
    assert ChatMember.objects.count() == 2


def test_parallel_chat_creation_over_rest(client_for, alice: User, bob: User) -> None:
    clients = [client_for(alice if i % 2 else bob) for i in range(10)]
    partners = [bob if i % 2 else alice for i in range(10)]

    def create(index: int) -> tuple[int, str]:
        response = clients[index].post("/api/v1/chats", {"partner_id": str(partners[index].pk)}, format="json")
        return response.status_code, response.json()["id"]

    results = run_parallel(10, create)
    assert sorted(status for status, _ in results) == [200] * 9 + [201], results
    assert len({chat_id for _, chat_id in results}) == 1


def test_hundred_parallel_sends_get_gap_free_seq(alice: User, bob: User) -> None:
    chat = chat_get_or_create(user_id=alice.pk, partner_id=bob.pk)[0]

    def send(index: int) -> int:
        sender = alice if index % 2 else bob
        message, created = message_send(sender_id=sender.pk, chat_id=chat.pk, text=f"n{index}", request_id=uuid.uuid4())
        assert created
        return message.seq

    results = run_parallel(100, send, timeout=60)
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, errors[:3]
    assert sorted(results) == list(range(1, 101))
    assert sorted(Message.objects.filter(chat=chat).values_list("seq", flat=True)) == list(range(1, 101))
    chat.refresh_from_db()
    assert chat.last_seq == 100
    assert Message.objects.get(pk=chat.last_message_id).seq == 100


def test_same_request_id_in_parallel_stores_one_message(alice: User, bob: User) -> None:
    chat = chat_get_or_create(user_id=alice.pk, partner_id=bob.pk)[0]
    request_id = uuid.uuid4()

    def send(index: int) -> tuple[str, bool]:
        message, created = message_send(sender_id=alice.pk, chat_id=chat.pk, text="dup", request_id=request_id)
        return str(message.pk), created

    results = run_parallel(10, send)
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, errors
    assert len({message_id for message_id, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    assert Message.objects.filter(chat=chat).count() == 1
    chat.refresh_from_db()
    assert chat.last_seq == 1  # the losers' seq increments rolled back


def test_same_request_id_in_parallel_over_rest(client_for, alice: User, bob: User) -> None:
    chat = chat_get_or_create(user_id=alice.pk, partner_id=bob.pk)[0]
    clients = [client_for(alice) for _ in range(10)]
    body = {"text": "once", "request_id": str(uuid.uuid4())}

    def post(index: int) -> tuple[int, str]:
        response = clients[index].post(f"/api/v1/chats/{chat.pk}/messages", body, format="json")
        return response.status_code, response.json()["id"]

    results = run_parallel(10, post)
    assert sorted(status for status, _ in results) == [200] * 9 + [201], results
    assert len({message_id for _, message_id in results}) == 1
    assert Message.objects.count() == 1
