"""Services and selectors of chats, called directly."""

from __future__ import annotations

import uuid

import pytest

from accounts.models import User
from chats.models import Chat
from chats.selectors import chat_has_member, chat_member_ids, membership_get, partner_ids
from chats.services import chat_get_or_create
from neonchat.errors import InvalidInput, NotFound

pytestmark = pytest.mark.django_db


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


def test_membership_get_hides_other_chats(make_user, chat: Chat) -> None:
    with pytest.raises(NotFound):
        membership_get(user_id=make_user().pk, chat_id=chat.pk)
    with pytest.raises(NotFound):
        membership_get(user_id=chat.user_low_id, chat_id="not-a-uuid")
