"""Every write of chats: creating a 1:1 chat and moving a read watermark."""

from __future__ import annotations

import uuid

from django.db import IntegrityError, transaction
from django.db.models import Q

from accounts.models import User
from chats.models import Chat, ChatMember
from chats.selectors import membership_get
from messaging.models import Message
from messaging.signals import chat_read
from neonchat.errors import InvalidInput, NotFound


def chat_get_or_create(*, user_id: uuid.UUID, partner_id: uuid.UUID) -> tuple[Chat, bool]:
    """The chat of the pair, created if missing; never a duplicate, even concurrently."""
    if partner_id == user_id:
        raise InvalidInput("You cannot start a chat with yourself.", code="self_chat")
    if not User.objects.filter(pk=partner_id, status=User.Status.ACTIVE).exists():
        raise NotFound("User not found.", code="user_not_found")
    low, high = sorted((user_id, partner_id))
    existing = Chat.objects.filter(user_low_id=low, user_high_id=high).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            chat = Chat.objects.create(user_low_id=low, user_high_id=high)
            ChatMember.objects.bulk_create(
                [
                    ChatMember(chat=chat, user_id=low, partner_id=high),
                    ChatMember(chat=chat, user_id=high, partner_id=low),
                ]
            )
    except IntegrityError:
        # A concurrent request created the pair first: the unique index decided.
        return Chat.objects.get(user_low_id=low, user_high_id=high), False
    return chat, True


@transaction.atomic
def chat_mark_read(*, user_id: uuid.UUID, chat_id: uuid.UUID, message_id: uuid.UUID) -> int:
    """Move the caller's watermark to ``message_id`` (never backwards); return its seq."""
    member = membership_get(user_id=user_id, chat_id=chat_id)
    seq = Message.objects.filter(pk=message_id, chat_id=member.chat_id).values_list("seq", flat=True).first()
    if seq is None:
        raise NotFound("Message not found in this chat.", code="message_not_found")
    moved = ChatMember.objects.filter(Q(pk=member.pk) & Q(last_read_seq__lt=seq)).update(last_read_seq=seq)
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
