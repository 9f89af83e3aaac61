"""Group races on real PostgreSQL (committed transactions, one connection per thread)."""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Callable

import pytest
from django.db import connection, transaction
from django.db.models import F

from accounts.models import User
from chats.models import Chat, ChatMember
from messaging.groups import group_create, group_member_remove, group_members_add
from messaging.models import Message
from messaging.services import message_send
from neonchat.errors import NotFound
from neonchat.tests.support import run_parallel

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def carol(make_user: Callable[..., User]) -> User:
    return make_user("carol")


def test_concurrent_adds_and_removes_of_one_user_end_in_one_state(alice: User, bob: User, carol: User) -> None:
    group = group_create(user_id=alice.pk, title="race", member_ids=[bob.pk])

    def churn(index: int) -> None:
        if index % 2:
            group_members_add(user_id=alice.pk, chat_id=group.pk, user_ids=[carol.pk])
        else:
            with contextlib.suppress(NotFound):  # carol was not in it at that moment
                group_member_remove(user_id=alice.pk, chat_id=group.pk, target_id=carol.pk)

    results = run_parallel(12, churn)
    assert not [r for r in results if isinstance(r, BaseException)], results
    group.refresh_from_db()
    rows = set(ChatMember.objects.filter(chat=group).values_list("user_id", flat=True))
    assert group.members_count == len(rows)
    seqs = list(Message.objects.filter(chat=group).order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, group.last_seq + 1))  # one event per change that happened, no gap
    last_about_carol = (
        Message.objects.filter(chat=group, event__user_ids__contains=[str(carol.pk)]).order_by("-seq").first()
    )
    assert last_about_carol is not None
    assert (carol.pk in rows) == (last_about_carol.event["type"] == "member_added")


def _change_membership_while_a_send_waits(group: Chat, removed: User, sender: User) -> object:
    """Hold the chat's lock, remove ``removed`` (as the service does: version bumped),
    let ``sender``'s send start and wait on the lock, then commit; the send's outcome."""
    locked, outcome = threading.Event(), dict[str, object]()

    def change() -> None:
        try:
            with transaction.atomic():
                Chat.objects.select_for_update().get(pk=group.pk)
                ChatMember.objects.filter(chat=group, user=removed).delete()
                Chat.objects.filter(pk=group.pk).update(members_version=F("members_version") + 1)
                locked.set()
                time.sleep(0.5)  # the send below takes its snapshot and waits on the lock
        finally:
            connection.close()

    def send() -> None:
        locked.wait(5)
        try:
            outcome["result"] = message_send(sender_id=sender.pk, chat_id=group.pk, text="hi", request_id=uuid.uuid4())
        except Exception as error:
            outcome["result"] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=change), threading.Thread(target=send)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    return outcome["result"]


def test_a_send_waiting_on_the_lock_while_its_sender_is_removed_is_refused(alice: User, bob: User) -> None:
    group = group_create(user_id=alice.pk, title="race", member_ids=[bob.pk])
    result = _change_membership_while_a_send_waits(group, removed=bob, sender=bob)
    assert isinstance(result, NotFound), result
    assert not Message.objects.filter(chat=group, sender=bob).exists()


def test_a_send_waiting_while_someone_else_is_removed_goes_through(alice: User, bob: User, carol: User) -> None:
    group = group_create(user_id=alice.pk, title="race", member_ids=[bob.pk, carol.pk])
    result = _change_membership_while_a_send_waits(group, removed=carol, sender=bob)
    assert isinstance(result, tuple), result
    message, created = result
    assert created and message.seq == 2
