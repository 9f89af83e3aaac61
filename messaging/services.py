"""Every write of messaging: send, edit, delete, mark read. Each is one transaction and
announces itself through ``messaging.signals`` after commit, never before."""

from __future__ import annotations

import contextlib
import uuid
from datetime import UTC, datetime
from typing import Any

from django.db import IntegrityError, connection, transaction

from chats.models import Chat, ChatMember
from chats.selectors import membership_get
from messaging.models import Message
from messaging.payloads import message_payload
from messaging.signals import chat_read, message_committed, message_deleted, message_updated
from neonchat.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from neonchat.realtime import origin_var
from neonchat.text import TEXT_MAX, has_visible_text


def validate_text(text: str) -> str:
    """1-4096 characters, not only white space or invisible ones, storable as UTF-8 (no NUL, no lone surrogates)."""
    if not text or not has_visible_text(text):
        raise InvalidInput("Message text must not be empty.", code="empty_text", details={"text": ["empty"]})
    if len(text) > TEXT_MAX:
        raise InvalidInput(
            f"Message text must be at most {TEXT_MAX} characters.", code="text_too_long", details={"text": ["too long"]}
        )
    if "\x00" in text:
        raise InvalidInput("Message text must not contain NUL characters.", code="invalid_text")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput("Message text is not valid Unicode.", code="invalid_text") from None
    return text


# PostgreSQL: a send is ONE statement, atomic by itself and one round trip.
# (Its many-row form, for the WebSocket group commit: messaging/batching.py.)
# The UPDATE checks membership, takes the chat row lock until commit and
# allocates the next seq (concurrent sends queue here, so seq has no gap); the
# INSERT takes that seq; the sender's read watermark moves to their message.
# chats.last_message_id points at the row inserted in the same statement
# (Django's foreign keys are DEFERRABLE INITIALLY DEFERRED).
_SEND_STATEMENT = """
WITH bumped AS (
    UPDATE chats SET last_seq = last_seq + 1, updated_at = %(now)s, last_message_id = %(id)s
    WHERE id = %(chat)s AND (user_low_id = %(sender)s OR user_high_id = %(sender)s)
    RETURNING last_seq, user_low_id, user_high_id
), inserted AS (
    INSERT INTO messages (id, chat_id, sender_id, text, seq, request_id, created_at, updated_at)
    SELECT %(id)s, %(chat)s, %(sender)s, %(text)s, last_seq, %(request)s, %(now)s, %(now)s FROM bumped
    RETURNING seq
), watermark AS (
    UPDATE chat_members SET last_read_seq = inserted.seq FROM inserted
    WHERE chat_members.chat_id = %(chat)s AND chat_members.user_id = %(sender)s
      AND chat_members.last_read_seq < inserted.seq
)
SELECT last_seq, user_low_id, user_high_id FROM bumped
"""

# Other databases (SQLite in embedded mode): the same steps, inside atomic().
_BUMP_CHAT = (
    "UPDATE chats SET last_seq = last_seq + 1, updated_at = %s, last_message_id = %s "
    "WHERE id = %s AND (user_low_id = %s OR user_high_id = %s) RETURNING last_seq, user_low_id, user_high_id"
)

Row = tuple[Any, ...]


def _db_uuid(value: uuid.UUID) -> str | uuid.UUID:
    prepared: str | uuid.UUID = Message._meta.pk.get_db_prep_value(value, connection)  # type: ignore[union-attr]
    return prepared


def _replay(sender_id: uuid.UUID, chat_id: uuid.UUID, request_id: uuid.UUID) -> Message | None:
    existing = Message.objects.filter(sender_id=sender_id, request_id=request_id).first()
    if existing is not None and existing.chat_id != chat_id:
        raise Conflict("This request_id was already used for another chat.", code="request_id_reused")
    return existing


def _store_in_one_statement(message: Message) -> Row | None:
    params: dict[str, datetime | uuid.UUID | str] = {
        "now": message.created_at,
        "id": message.pk,
        "chat": message.chat_id,
        "sender": message.sender_id,
        "text": message.text,
        "request": message.request_id,
    }
    with connection.cursor() as cursor:
        cursor.execute(_SEND_STATEMENT, params)
        row: Row | None = cursor.fetchone()
    return row


def _store_step_by_step(message: Message) -> Row | None:
    with connection.cursor() as cursor:
        cursor.execute(
            _BUMP_CHAT,
            [
                connection.ops.adapt_datetimefield_value(message.created_at),
                _db_uuid(message.pk),
                _db_uuid(message.chat_id),
                _db_uuid(message.sender_id),
                _db_uuid(message.sender_id),
            ],
        )
        row: Row | None = cursor.fetchone()
    if row is None:
        return None
    message.seq = int(row[0])
    message.save(force_insert=True)
    ChatMember.objects.filter(chat_id=message.chat_id, user_id=message.sender_id, last_read_seq__lt=message.seq).update(
        last_read_seq=message.seq
    )
    return row


def _insert(*, sender_id: uuid.UUID, chat_id: uuid.UUID, text: str, request_id: uuid.UUID) -> Message:
    now = datetime.now(tz=UTC)
    message = Message(
        id=uuid.uuid4(), chat_id=chat_id, sender_id=sender_id, text=text, seq=0,
        request_id=request_id, created_at=now, updated_at=now,
    )  # fmt: skip
    one_statement = connection.vendor == "postgresql"
    # A lone statement needs no transaction of its own (autocommit); inside an
    # outer transaction it gets a savepoint so a duplicate can roll back alone.
    needs_atomic = not one_statement or connection.in_atomic_block
    with transaction.atomic() if needs_atomic else contextlib.nullcontext():
        row = _store_in_one_statement(message) if one_statement else _store_step_by_step(message)
        if row is None:
            raise NotFound("Chat not found.", code="chat_not_found")
        message.seq = int(row[0])
        payload = message_payload(message)
        members = [str(uuid.UUID(str(row[1]))), str(uuid.UUID(str(row[2])))]
        origin = origin_var.get()
        transaction.on_commit(
            lambda: message_committed.send(sender=Message, message=payload, member_ids=members, origin=origin)
        )
    return message


def message_send(*, sender_id: uuid.UUID, chat_id: uuid.UUID, text: str, request_id: uuid.UUID) -> tuple[Message, bool]:
    """Store a message once per ``(sender, request_id)``; ``(message, created)``.

    The common case (a new request id) costs one round trip on PostgreSQL. A
    repeated ``request_id`` hits the unique index: nothing of that attempt is
    kept (the seq increment included) and the original is returned.
    The WebSocket path sends many at once: ``messaging.batching``.
    """
    validate_text(text)
    try:
        return _insert(sender_id=sender_id, chat_id=chat_id, text=text, request_id=request_id), True
    except IntegrityError:
        existing = _replay(sender_id, chat_id, request_id)
        if existing is None:
            raise
        return existing, False


def _own_message_for_update(*, user_id: uuid.UUID, chat_id: uuid.UUID, message_id: uuid.UUID) -> Message:
    if not ChatMember.objects.filter(user_id=user_id, chat_id=chat_id).exists():
        raise NotFound("Chat not found.", code="chat_not_found")
    message = Message.objects.select_for_update().filter(pk=message_id, chat_id=chat_id).first()
    if message is None:
        raise NotFound("Message not found.", code="message_not_found")
    if message.sender_id != user_id:
        raise PermissionDenied("You can only change your own messages.", code="not_message_owner")
    return message


@transaction.atomic
def message_edit(*, user_id: uuid.UUID, chat_id: uuid.UUID, message_id: uuid.UUID, text: str) -> Message:
    validate_text(text)
    message = _own_message_for_update(user_id=user_id, chat_id=chat_id, message_id=message_id)
    if message.deleted_at is not None:
        raise Conflict("A deleted message cannot be edited.", code="message_deleted")
    message.text = text
    message.updated_at = datetime.now(tz=UTC)
    message.save(update_fields=["text", "updated_at"])
    payload = message_payload(message)
    members = Chat.objects.get(pk=chat_id).member_ids()
    transaction.on_commit(lambda: message_updated.send(sender=Message, message=payload, member_ids=members))
    return message


@transaction.atomic
def message_delete(
    *, user_id: uuid.UUID | None, chat_id: uuid.UUID, message_id: uuid.UUID, moderator: bool = False
) -> Message:
    """Soft-delete: the row stays as a tombstone so ``seq`` never has a gap.

    Members may delete their own messages; ``moderator=True`` (admin) any.
    """
    if moderator:
        message = Message.objects.select_for_update().filter(pk=message_id, chat_id=chat_id).first()
        if message is None:
            raise NotFound("Message not found.", code="message_not_found")
    else:
        assert user_id is not None
        message = _own_message_for_update(user_id=user_id, chat_id=chat_id, message_id=message_id)
    if message.deleted_at is None:
        message.deleted_at = message.updated_at = datetime.now(tz=UTC)
        message.text = ""
        message.save(update_fields=["text", "deleted_at", "updated_at"])
        members = Chat.objects.get(pk=chat_id).member_ids()
        event = {"chat_id": str(chat_id), "message_id": str(message_id), "seq": message.seq, "member_ids": members}
        transaction.on_commit(lambda: message_deleted.send(sender=Message, **event))
    return message


@transaction.atomic
def chat_mark_read(*, user_id: uuid.UUID, chat_id: uuid.UUID, message_id: uuid.UUID) -> int:
    """Move the caller's watermark to ``message_id`` (never backwards); return its seq."""
    member = membership_get(user_id=user_id, chat_id=chat_id)
    seq = Message.objects.filter(pk=message_id, chat_id=member.chat_id).values_list("seq", flat=True).first()
    if seq is None:
        raise NotFound("Message not found in this chat.", code="message_not_found")
    moved = ChatMember.objects.filter(pk=member.pk, last_read_seq__lt=seq).update(last_read_seq=seq)
    if moved:
        payload = {
            "chat_id": str(member.chat_id),
            "user_id": str(user_id),
            "message_id": str(message_id),
            "seq": seq,
            "member_ids": member.chat.member_ids(),
        }
        transaction.on_commit(lambda: chat_read.send(sender=ChatMember, **payload))
    return seq
