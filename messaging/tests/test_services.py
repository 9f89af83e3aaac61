"""Messaging services on PostgreSQL: send (seq, idempotency), edit, delete, and the after-commit signals."""

from __future__ import annotations

import uuid

import pytest
from django.db import transaction
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from accounts.models import User
from chats.models import Chat, ChatMember
from chats.services import chat_get_or_create
from messaging.models import Message
from messaging.selectors import message_get, message_page
from messaging.services import chat_mark_read, message_delete, message_edit, message_send, validate_text
from messaging.signals import chat_read, message_committed, message_deleted, message_updated
from neonchat.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from neonchat.realtime import origin_var
from neonchat.tests.support import send
from neonchat.text import TEXT_MAX, has_visible_text


class Recorder:
    def __init__(self, signal) -> None:
        self.signal = signal
        self.calls: list[dict] = []

    def __call__(self, **kwargs: object) -> None:
        kwargs.pop("signal", None)
        kwargs.pop("sender", None)
        self.calls.append(kwargs)

    def __enter__(self) -> Recorder:
        self.signal.connect(self)
        return self

    def __exit__(self, *exc: object) -> None:
        self.signal.disconnect(self)


# --- text validation (pure) -----------------------------------------------------------------------------------


@hsettings(max_examples=100, deadline=None)
@given(st.text(min_size=1, max_size=200).filter(lambda t: has_visible_text(t) and "\x00" not in t))
def test_any_sane_text_is_accepted(text: str) -> None:
    assert validate_text(text) == text


@hsettings(max_examples=50, deadline=None)
@given(st.text(alphabet=" \t\r\n\u00a0\u2003\u3000", max_size=50))
def test_whitespace_only_text_is_rejected(text: str) -> None:
    with pytest.raises(InvalidInput):
        validate_text(text)


@pytest.mark.parametrize(
    "text", ["\u200b", "\u200b\u200c\u200d", "\ufeff\u2060", " \u200e\u200f ", "\u3164", "\u00ad\u034f", "\u202e\u2066"]
)
def test_invisible_only_text_is_rejected(text: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        validate_text(text)
    assert refused.value.code == "empty_text"


@pytest.mark.parametrize("text", ["a\u200b", "\u200d\U0001f468\u200d\U0001f469", "\u05d0\u200f", "\u00a0."])
def test_text_with_a_visible_character_is_accepted(text: str) -> None:
    assert validate_text(text) == text


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", "empty_text"),
        ("x" * (TEXT_MAX + 1), "text_too_long"),
        ("a\x00b", "invalid_text"),
        ("\ud800", "invalid_text"),
    ],
)
def test_bad_text_codes(text: str, code: str) -> None:
    with pytest.raises(InvalidInput) as error:
        validate_text(text)
    assert error.value.code == code


def test_text_limit_counts_characters_not_bytes() -> None:
    assert validate_text("é" * TEXT_MAX)
    assert validate_text("😀" * TEXT_MAX)


# --- send -----------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_send_allocates_seq_and_updates_chat(alice: User, bob: User, chat: Chat) -> None:
    first, created = message_send(sender_id=alice.pk, chat_id=chat.pk, text="one", request_id=uuid.uuid4())
    second, _ = message_send(sender_id=bob.pk, chat_id=chat.pk, text="two", request_id=uuid.uuid4())
    assert created and (first.seq, second.seq) == (1, 2)
    chat.refresh_from_db()
    assert chat.last_seq == 2 and chat.last_message_id == second.pk
    assert chat.updated_at == second.created_at
    assert ChatMember.objects.get(chat=chat, user=bob).last_read_seq == 2
    assert ChatMember.objects.get(chat=chat, user=alice).last_read_seq == 1


@pytest.mark.django_db
def test_send_is_idempotent_per_sender_and_request_id(alice: User, bob: User, chat: Chat) -> None:
    request_id = uuid.uuid4()
    original, created = message_send(sender_id=alice.pk, chat_id=chat.pk, text="once", request_id=request_id)
    replay, created_again = message_send(sender_id=alice.pk, chat_id=chat.pk, text="changed", request_id=request_id)
    assert created and not created_again
    assert replay.pk == original.pk and replay.text == "once"
    # Another sender may use the same request_id: it is a different message.
    theirs, theirs_created = message_send(sender_id=bob.pk, chat_id=chat.pk, text="mine", request_id=request_id)
    assert theirs_created and theirs.pk != original.pk
    assert Message.objects.count() == 2
    chat.refresh_from_db()
    assert chat.last_seq == 2


@pytest.mark.django_db
def test_request_id_reused_for_another_chat_is_conflict(make_user, alice: User, chat: Chat) -> None:
    other = chat_get_or_create(user_id=alice.pk, partner_id=make_user().pk)[0]
    request_id = uuid.uuid4()
    message_send(sender_id=alice.pk, chat_id=chat.pk, text="a", request_id=request_id)
    with pytest.raises(Conflict) as error:
        message_send(sender_id=alice.pk, chat_id=other.pk, text="a", request_id=request_id)
    assert error.value.code == "request_id_reused"
    other.refresh_from_db()
    assert other.last_seq == 0


@pytest.mark.django_db
def test_send_to_a_chat_one_is_not_in_is_not_found(make_user, chat: Chat) -> None:
    with pytest.raises(NotFound):
        message_send(sender_id=make_user().pk, chat_id=chat.pk, text="x", request_id=uuid.uuid4())
    with pytest.raises(NotFound):
        message_send(sender_id=chat.user_low_id, chat_id=uuid.uuid4(), text="x", request_id=uuid.uuid4())
    chat.refresh_from_db()
    assert chat.last_seq == 0 and not Message.objects.exists()


# --- edit and delete ------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_edit_rules(alice: User, bob: User, chat: Chat) -> None:
    mine = send(chat, alice, "before")
    edited = message_edit(user_id=alice.pk, chat_id=chat.pk, message_id=mine.pk, text="after")
    assert edited.text == "after" and edited.updated_at > mine.updated_at and edited.created_at == mine.created_at
    with pytest.raises(PermissionDenied):
        message_edit(user_id=bob.pk, chat_id=chat.pk, message_id=mine.pk, text="hijack")
    with pytest.raises(InvalidInput):
        message_edit(user_id=alice.pk, chat_id=chat.pk, message_id=mine.pk, text="   ")
    with pytest.raises(NotFound):
        message_edit(user_id=alice.pk, chat_id=chat.pk, message_id=uuid.uuid4(), text="x")
    message_delete(user_id=alice.pk, chat_id=chat.pk, message_id=mine.pk)
    with pytest.raises(Conflict):
        message_edit(user_id=alice.pk, chat_id=chat.pk, message_id=mine.pk, text="zombie")


@pytest.mark.django_db
def test_delete_leaves_a_tombstone(alice: User, bob: User, chat: Chat) -> None:
    first, second, third = send(chat, alice, "1"), send(chat, alice, "secret"), send(chat, bob, "3")
    with pytest.raises(PermissionDenied):
        message_delete(user_id=bob.pk, chat_id=chat.pk, message_id=second.pk)
    message_delete(user_id=alice.pk, chat_id=chat.pk, message_id=second.pk)
    stored = Message.objects.get(pk=second.pk)
    assert stored.deleted and stored.text == "" and stored.seq == 2
    page = message_page(user_id=bob.pk, chat_id=chat.pk, limit=10)
    assert [m["seq"] for m in page["messages"]] == [1, 2, 3]
    assert page["messages"][1]["deleted"] is True and page["messages"][1]["text"] == ""
    assert [m["id"] for m in page["messages"]] == [str(first.pk), str(second.pk), str(third.pk)]
    # deleting again changes nothing
    message_delete(user_id=alice.pk, chat_id=chat.pk, message_id=second.pk)
    assert message_get(user_id=alice.pk, chat_id=chat.pk, message_id=second.pk).deleted


@pytest.mark.django_db
def test_moderator_can_delete_any_message(bob: User, chat: Chat) -> None:
    message = send(chat, bob, "spam")
    message_delete(user_id=None, chat_id=chat.pk, message_id=message.pk, moderator=True)
    assert Message.objects.get(pk=message.pk).deleted
    with pytest.raises(NotFound):
        message_delete(user_id=None, chat_id=chat.pk, message_id=uuid.uuid4(), moderator=True)


# --- signals --------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_message_committed_fires_once_after_commit(
    alice: User, bob: User, chat: Chat, django_capture_on_commit_callbacks
):
    request_id = uuid.uuid4()
    with Recorder(message_committed) as recorder:
        with django_capture_on_commit_callbacks(execute=True):
            token = origin_var.set("conn-1")
            try:
                message, _ = message_send(sender_id=alice.pk, chat_id=chat.pk, text="hi", request_id=request_id)
            finally:
                origin_var.reset(token)
            assert recorder.calls == []  # not before commit
        with django_capture_on_commit_callbacks(execute=True) as replay_callbacks:
            message_send(sender_id=alice.pk, chat_id=chat.pk, text="hi", request_id=request_id)
    assert replay_callbacks == []
    assert len(recorder.calls) == 1
    call = recorder.calls[0]
    assert call["origin"] == "conn-1"
    assert sorted(call["member_ids"]) == sorted([str(alice.pk), str(bob.pk)])
    assert call["message"] == {
        "id": str(message.pk),
        "chat_id": str(chat.pk),
        "sender_id": str(alice.pk),
        "text": "hi",
        "seq": 1,
        "created_at": call["message"]["created_at"],
        "updated_at": call["message"]["updated_at"],
        "deleted": False,
        "kind": "text",
        "event": None,
    }
    assert call["message"]["created_at"].endswith("Z")


@pytest.mark.django_db
def test_message_committed_never_fires_on_rollback(alice: User, chat: Chat, django_capture_on_commit_callbacks):
    with (
        Recorder(message_committed) as recorder,
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        send(chat, alice, "doomed")
        raise RuntimeError("roll back")
    assert recorder.calls == [] and callbacks == []
    assert not Message.objects.exists()


@pytest.mark.django_db
def test_edit_and_delete_signal_after_commit(alice: User, bob: User, chat: Chat, django_capture_on_commit_callbacks):
    message = send(chat, alice, "v1")
    with (
        Recorder(message_updated) as updated,
        Recorder(message_deleted) as deleted,
        django_capture_on_commit_callbacks(execute=True),
    ):
        message_edit(user_id=alice.pk, chat_id=chat.pk, message_id=message.pk, text="v2")
        message_delete(user_id=alice.pk, chat_id=chat.pk, message_id=message.pk)
        assert updated.calls == [] and deleted.calls == []
    assert [c["message"]["text"] for c in updated.calls] == ["v2"]
    assert [(c["message_id"], c["seq"]) for c in deleted.calls] == [(str(message.pk), 1)]
    assert sorted(deleted.calls[0]["member_ids"]) == sorted([str(alice.pk), str(bob.pk)])


@pytest.mark.django_db(transaction=True)
def test_message_committed_with_real_commits(alice: User, chat: Chat) -> None:
    with Recorder(message_committed) as recorder:
        with pytest.raises(RuntimeError), transaction.atomic():
            send(chat, alice, "rolled back")
            raise RuntimeError("boom")
        assert recorder.calls == []
        with transaction.atomic():
            message = send(chat, alice, "kept")
            assert recorder.calls == []
        assert [c["message"]["id"] for c in recorder.calls] == [str(message.pk)]
    chat.refresh_from_db()
    assert chat.last_seq == 1 and message.seq == 1


@pytest.mark.django_db
def test_mark_read_returns_seq_and_signals_only_on_progress(
    alice: User, bob: User, chat: Chat, django_capture_on_commit_callbacks
) -> None:
    first, second = send(chat, bob, "1"), send(chat, bob, "2")
    with Recorder(chat_read) as recorder, django_capture_on_commit_callbacks(execute=True):
        assert chat_mark_read(user_id=alice.pk, chat_id=chat.pk, message_id=second.pk) == 2
        assert chat_mark_read(user_id=alice.pk, chat_id=chat.pk, message_id=first.pk) == 1
        assert chat_mark_read(user_id=alice.pk, chat_id=chat.pk, message_id=second.pk) == 2
    assert len(recorder.calls) == 1
    call = recorder.calls[0]
    assert (call["chat_id"], call["user_id"], call["message_id"], call["seq"]) == (
        str(chat.pk),
        str(alice.pk),
        str(second.pk),
        2,
    )
    assert ChatMember.objects.get(chat=chat, user=alice).last_read_seq == 2
