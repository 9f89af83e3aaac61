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
from messaging.metrics import count_sent, rejections_counted
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
# The UPDATE takes the chat row lock until commit and allocates the next seq
# (concurrent sends queue here, so seq has no gap); the INSERT takes that seq;
# the sender's read watermark moves to their message. chats.last_message_id
# points at the row inserted in the same statement (Django's foreign keys are
# DEFERRABLE INITIALLY DEFERRED).
# Membership: a direct chat's pair is on the locked row itself (re-checked
# after a wait). A group's members are read on the statement's snapshot, taken
# before the lock wait; a membership change commits under the same lock and
# bumps members_version, so the UPDATE, which re-reads the locked row, only
# proceeds if the version is still the one of that snapshot. Otherwise no row
# comes back and the send is retried behind an explicit lock (_store).
_SEND_STATEMENT = """
WITH seen AS (
    SELECT c.members_version, c.kind,
           CASE WHEN c.kind = 'group'
                THEN ARRAY(SELECT cm.user_id FROM chat_members cm WHERE cm.chat_id = c.id)
                ELSE ARRAY[c.user_low_id, c.user_high_id] END AS members
    FROM chats c
    WHERE c.id = %(chat)s AND (c.user_low_id = %(sender)s OR c.user_high_id = %(sender)s OR (c.kind = 'group'
          AND EXISTS (SELECT 1 FROM chat_members cm WHERE cm.chat_id = c.id AND cm.user_id = %(sender)s)))
), bumped AS (
    UPDATE chats SET last_seq = last_seq + 1, updated_at = %(now)s, last_message_id = %(id)s
    WHERE id = %(chat)s AND members_version = (SELECT members_version FROM seen)
    RETURNING last_seq
), inserted AS (
    INSERT INTO messages (id, chat_id, sender_id, text, seq, request_id, created_at, updated_at)
    SELECT %(id)s, %(chat)s, %(sender)s, %(text)s, last_seq, %(request)s, %(now)s, %(now)s FROM bumped
    RETURNING seq
), watermark AS (
    UPDATE chat_members SET last_read_seq = inserted.seq FROM inserted
    WHERE chat_members.chat_id = %(chat)s AND chat_members.user_id = %(sender)s
      AND chat_members.last_read_seq < inserted.seq
)
SELECT last_seq, (SELECT members FROM seen), (SELECT kind FROM seen) FROM bumped
"""

# Other databases (SQLite in embedded mode, one writer): the same steps, inside atomic().
_BUMP_CHAT = (
    "UPDATE chats SET last_seq = last_seq + 1, updated_at = %s, last_message_id = %s "
    "WHERE id = %s AND (user_low_id = %s OR user_high_id = %s OR (kind = 'group' AND EXISTS "
    "(SELECT 1 FROM chat_members cm WHERE cm.chat_id = chats.id AND cm.user_id = %s))) "
    "RETURNING last_seq, kind, user_low_id, user_high_id"
)

Row = tuple[Any, ...]


def _db_uuid(value: uuid.UUID) -> str | uuid.UUID:
    prepared: str | uuid.UUID = Message._meta.pk.get_db_prep_value(value, connection)  # type: ignore[union-attr]
    return prepared


def _replay(sender_id: uuid.UUID, chat_id: uuid.UUID, request_id: uuid.UUID) -> Message | None:
    existing = Message.objects.select_related("chat").filter(sender_id=sender_id, request_id=request_id).first()
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
    sender = _db_uuid(message.sender_id)
    with connection.cursor() as cursor:
        cursor.execute(
            _BUMP_CHAT,
            [
                connection.ops.adapt_datetimefield_value(message.created_at),
                _db_uuid(message.pk),
                _db_uuid(message.chat_id),
                *(sender, sender, sender),
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
    if row[1] == Chat.Kind.GROUP:
        members = list(ChatMember.objects.filter(chat_id=message.chat_id).values_list("user_id", flat=True))
        return row[0], members, row[1]
    return row[0], [row[2], row[3]], row[1]


def _store(message: Message) -> Row | None:
    """``(seq, member ids, chat kind)`` of the stored message, or ``None`` if the sender is not a member."""
    if connection.vendor != "postgresql":
        with transaction.atomic():
            return _store_step_by_step(message)
    # A lone statement needs no transaction of its own (autocommit); inside an
    # outer transaction it gets a savepoint so a duplicate can roll back alone.
    with transaction.atomic() if connection.in_atomic_block else contextlib.nullcontext():
        row = _store_in_one_statement(message)
    if row is not None:
        return row
    # Not a member, or the group's membership changed while the statement waited
    # for the chat's lock: decide behind the lock, on a snapshot taken after it.
    with transaction.atomic():
        Chat.objects.select_for_update().filter(pk=message.chat_id).values_list("pk").first()
        return _store_in_one_statement(message)


def _insert(*, sender_id: uuid.UUID, chat_id: uuid.UUID, text: str, request_id: uuid.UUID) -> Message:
    now = datetime.now(tz=UTC)
    message = Message(
        id=uuid.uuid4(), chat_id=chat_id, sender_id=sender_id, text=text, seq=0,
        request_id=request_id, created_at=now, updated_at=now,
    )  # fmt: skip
    row = _store(message)
    if row is None:
        raise NotFound("Chat not found.", code="chat_not_found")
    message.seq = int(row[0])
    payload = message_payload(message)
    members = [str(uuid.UUID(str(uid))) for uid in row[1]]
    origin, chat_kind = origin_var.get(), str(row[2])

    def committed() -> None:
        count_sent(chat_kind, "created")
        message_committed.send(sender=Message, message=payload, member_ids=members, origin=origin)

    transaction.on_commit(committed)
    return message


def message_send(*, sender_id: uuid.UUID, chat_id: uuid.UUID, text: str, request_id: uuid.UUID) -> tuple[Message, bool]:
    """Store a message once per ``(sender, request_id)``; ``(message, created)``.

    The common case (a new request id) costs one round trip on PostgreSQL. A
    repeated ``request_id`` hits the unique index: nothing of that attempt is
    kept (the seq increment included) and the original is returned.
    The WebSocket path sends many at once: ``messaging.batching``.
    """
    with rejections_counted():
        validate_text(text)
        try:
            return _insert(sender_id=sender_id, chat_id=chat_id, text=text, request_id=request_id), True
        except IntegrityError:
            existing = _replay(sender_id, chat_id, request_id)
            if existing is None:
                raise
            count_sent(existing.chat.kind, "duplicate")
            return existing, False


def _message_for_change(*, user_id: uuid.UUID, chat_id: uuid.UUID, message_id: uuid.UUID, moderate: bool) -> Message:
    """The message, locked, if the caller may change it: their own, or (``moderate``)
    any in a group they own or administer. Event messages never change."""
    member = ChatMember.objects.select_related("chat").filter(user_id=user_id, chat_id=chat_id).first()
    if member is None:
        raise NotFound("Chat not found.", code="chat_not_found")
    message = Message.objects.select_for_update().filter(pk=message_id, chat_id=chat_id).first()
    if message is None:
        raise NotFound("Message not found.", code="message_not_found")
    if message.kind == Message.Kind.EVENT:
        raise PermissionDenied("Event messages cannot be edited or deleted.", code="event_message")
    moderator = moderate and member.chat.is_group and member.role != ChatMember.Role.MEMBER
    if message.sender_id != user_id and not moderator:
        raise PermissionDenied("You can only change your own messages.", code="not_message_owner")
    message.chat = member.chat
    return message


@transaction.atomic
def message_edit(*, user_id: uuid.UUID, chat_id: uuid.UUID, message_id: uuid.UUID, text: str) -> Message:
    """Edit one's own message (in groups too: moderators delete, they do not edit)."""
    validate_text(text)
    message = _message_for_change(user_id=user_id, chat_id=chat_id, message_id=message_id, moderate=False)
    if message.deleted_at is not None:
        raise Conflict("A deleted message cannot be edited.", code="message_deleted")
    message.text = text
    message.updated_at = datetime.now(tz=UTC)
    message.save(update_fields=["text", "updated_at"])
    payload = message_payload(message)
    members = message.chat.member_ids()
    transaction.on_commit(lambda: message_updated.send(sender=Message, message=payload, member_ids=members))
    return message


@transaction.atomic
def message_delete(
    *, user_id: uuid.UUID | None, chat_id: uuid.UUID, message_id: uuid.UUID, moderator: bool = False
) -> Message:
    """Soft-delete: the row stays as a tombstone so ``seq`` never has a gap.

    Members may delete their own messages, a group's owner and admins anyone's;
    ``moderator=True`` (the admin site) any. Event messages stay.
    """
    if moderator:
        message = (
            Message.objects.select_for_update().select_related("chat").filter(pk=message_id, chat_id=chat_id).first()
        )
        if message is None:
            raise NotFound("Message not found.", code="message_not_found")
        if message.kind == Message.Kind.EVENT:
            raise PermissionDenied("Event messages cannot be edited or deleted.", code="event_message")
    else:
        assert user_id is not None
        message = _message_for_change(user_id=user_id, chat_id=chat_id, message_id=message_id, moderate=True)
    if message.deleted_at is None:
        message.deleted_at = message.updated_at = datetime.now(tz=UTC)
        message.text = ""
        message.save(update_fields=["text", "deleted_at", "updated_at"])
        members = message.chat.member_ids()
        event = {"chat_id": str(chat_id), "message_id": str(message_id), "seq": message.seq, "member_ids": members}
        transaction.on_commit(lambda: message_deleted.send(sender=Message, **event))
    return message


def event_message_store(*, chat: Chat, actor_id: uuid.UUID, event: dict[str, Any], member_ids: list[str]) -> Message:
    """Append a group's event message (a membership or title change) to ``chat``,
    which the caller has locked inside its transaction: the next ``seq``, the
    actor's watermark moved to it (like a send), ``members_version`` bumped for
    sends that raced the change (see ``_SEND_STATEMENT``). ``member_ids`` (the
    members after the change) get it as ``new_message`` after commit."""
    now = datetime.now(tz=UTC)
    chat.last_seq += 1
    message = Message.objects.create(
        chat_id=chat.pk, sender_id=actor_id, text="", seq=chat.last_seq, request_id=uuid.uuid4(),
        created_at=now, updated_at=now, kind=Message.Kind.EVENT, event=event,
    )  # fmt: skip
    chat.last_message, chat.updated_at = message, now
    chat.members_version += 1
    chat.save(update_fields=["last_seq", "last_message", "updated_at", "members_version", "members_count", "title"])
    ChatMember.objects.filter(chat_id=chat.pk, user_id=actor_id, last_read_seq__lt=message.seq).update(
        last_read_seq=message.seq
    )
    payload = message_payload(message)

    def committed() -> None:
        count_sent(chat.kind, "created")
        message_committed.send(sender=Message, message=payload, member_ids=member_ids)

    transaction.on_commit(committed)
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
