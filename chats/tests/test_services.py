"""Services and selectors of chats, called directly."""

from __future__ import annotations

import uuid

import pytest

from accounts.models import User
from chats.models import Chat, ChatMember
from chats.selectors import chat_has_member, chat_member_ids, membership_get, partner_ids
from chats.services import chat_get_or_create, chat_mark_read
from messaging.signals import chat_read
from neonchat.errors import InvalidInput, NotFound
from neonchat.tests.support import send

pytestmark = pytest.mark.django_db


class Recorder:
    def __init__(self) -> None:
        self.calls: list[dict] = []

    def __call__(self, **kwargs: object) -> None:
        kwargs.pop("signal", None)
        self.calls.append(kwargs)


def test_pair_is_stored_ordered_and_unique(alice: User, bob: User) -> None:
    chat, created = chat_get_or_create(user_id=bob.pk, partner_id=alice.pk)
    assert created
    assert chat.user_low_id is not None and chat.user_high_id is not None
    assert chat.user_low_id < chat.user_high_id
    again, created_again = chat_get_or_create(user_id=alice.pk, partner_id=bob.pk)
    assert again.pk == chat.pk and not created_again
    assert sorted(chat_member_ids(chat_id=chat.pk)) == sorted([str(alice.pk), str(bob.pk)])
    assert partner_ids(user_id=alice.pk) == [str(bob.pk)]
    assert chat_has_member(user_id=str(alice.pk), chat_id=str(chat.pk))
    assert not chat_has_member(user_id=str(uuid.uuid4()), chat_id=str(chat.pk))


def test_create_errors(alice: User) -> None:
    with pytest.raises(InvalidInput):
        chat_get_or_create(user_id=alice.pk, partner_id=alice.pk)
    with pytest.raises(NotFound):
        chat_get_or_create(user_id=alice.pk, partner_id=uuid.uuid4())


def test_mark_read_returns_seq_and_signals_only_on_progress(
    alice: User, bob: User, chat: Chat, django_capture_on_commit_callbacks
) -> None:
    first, second = send(chat, bob, "1"), send(chat, bob, "2")
    recorder = Recorder()
    chat_read.connect(recorder)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            assert chat_mark_read(user_id=alice.pk, chat_id=chat.pk, message_id=second.pk) == 2
            assert chat_mark_read(user_id=alice.pk, chat_id=chat.pk, message_id=first.pk) == 1
            assert chat_mark_read(user_id=alice.pk, chat_id=chat.pk, message_id=second.pk) == 2
    finally:
        chat_read.disconnect(recorder)
    assert len(recorder.calls) == 1
    call = recorder.calls[0]
    assert (call["chat_id"], call["user_id"], call["message_id"], call["seq"]) == (
        str(chat.pk),
        str(alice.pk),
        str(second.pk),
        2,
    )
    assert ChatMember.objects.get(chat=chat, user=alice).last_read_seq == 2


def test_membership_get_hides_other_chats(make_user, chat: Chat) -> None:
    with pytest.raises(NotFound):
        membership_get(user_id=make_user().pk, chat_id=chat.pk)
    with pytest.raises(NotFound):
        membership_get(user_id=chat.user_low_id, chat_id="not-a-uuid")
