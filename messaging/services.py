"""Every write of messaging: send, edit, delete. Each is one transaction and
announces itself through ``messaging.signals`` after commit, never before."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from django.db import IntegrityError, connection, transaction

from chats.models import Chat, ChatMember
from messaging.models import TEXT_MAX, Message
from messaging.payloads import message_payload
from messaging.signals import message_committed, message_deleted, message_updated
from neonchat.errors import Conflict, InvalidInput, NotFound, PermissionDenied


def validate_text(text: str) -> str:
    """1-4096 characters, not only whitespace, storable as UTF-8 (no NUL, no lone surrogates)."""
    if not text or not text.strip():
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


_BUMP_CHAT = (
    "UPDATE chats SET last_seq = last_seq + 1, updated_at = %s, last_message_id = %s "
    "WHERE id = %s AND (user_low_id = %s OR user_high_id = %s) RETURNING last_seq, user_low_id, user_high_id"
)


def _db_uuid(value: uuid.UUID) -> str | uuid.UUID:
    prepared: str | uuid.UUID = Message._meta.pk.get_db_prep_value(value, connection)  # type: ignore[union-attr]
    return prepared


def _replay(sender_id: uuid.UUID, chat_id: uuid.UUID, request_id: uuid.UUID) -> Message | None:
    existing = Message.objects.filter(sender_id=sender_id, request_id=request_id).first()
    if existing is not None and existing.chat_id != chat_id:
        raise Conflict("This request_id was already used for another chat.", code="request_id_reused")
    return existing


@transaction.atomic
def _insert(*, sender_id: uuid.UUID, chat_id: uuid.UUID, text: str, request_id: uuid.UUID, origin: str) -> Message:
    now = datetime.now(tz=UTC)
    message_id = uuid.uuid4()
    # One statement checks membership, takes the chat row lock until commit and
    # allocates the next seq, so concurrent sends queue here and seq has no gap.
    # last_message_id points at the row inserted next (FKs are deferred to commit).
    with connection.cursor() as cursor:
        cursor.execute(
            _BUMP_CHAT,
            [
                connection.ops.adapt_datetimefield_value(now),
                _db_uuid(message_id),
                _db_uuid(chat_id),
                _db_uuid(sender_id),
                _db_uuid(sender_id),
            ],
        )
        row = cursor.fetchone()
    if row is None:
        raise NotFound("Chat not found.", code="chat_not_found")
    seq = int(row[0])
    message = Message.objects.create(
        id=message_id, chat_id=chat_id, sender_id=sender_id, text=text, seq=seq,
        request_id=request_id, created_at=now, updated_at=now,
    )  # fmt: skip
    # Sending moves the sender's own watermark to their message.
    ChatMember.objects.filter(chat_id=chat_id, user_id=sender_id, last_read_seq__lt=seq).update(last_read_seq=seq)
    payload = message_payload(message)
    members = [str(uuid.UUID(str(row[1]))), str(uuid.UUID(str(row[2])))]
    transaction.on_commit(
        lambda: message_committed.send(sender=Message, message=payload, member_ids=members, origin=origin)
    )
    return message


def message_send(
    *, sender_id: uuid.UUID, chat_id: uuid.UUID, text: str, request_id: uuid.UUID, origin: str = ""
) -> tuple[Message, bool]:
    """Store a message once per ``(sender, request_id)``; ``(message, created)``.

    A repeated ``request_id`` returns the original and stores nothing. If two
    copies race, the unique index rejects the second, whose whole transaction
    (seq increment included) rolls back, and it returns the first.
    ``origin`` tags the sending connection so fan-out can skip it.
    """
    validate_text(text)
    existing = _replay(sender_id, chat_id, request_id)
    if existing is not None:
        return existing, False
    try:
        return _insert(sender_id=sender_id, chat_id=chat_id, text=text, request_id=request_id, origin=origin), True
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
