"""Every write of chats: creating a 1:1 chat. (Moving a read watermark needs the messages: messaging.services.)"""

from __future__ import annotations

import uuid

from django.db import IntegrityError, transaction

from accounts.models import User
from chats.models import Chat, ChatMember
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
