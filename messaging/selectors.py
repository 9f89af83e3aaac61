"""Reads of messages: keyset pages over ``(chat_id, seq)``."""

from __future__ import annotations

import uuid
from typing import Any

from chats.selectors import membership_get
from messaging.models import Message
from messaging.payloads import message_payload
from neonchat.errors import InvalidInput, NotFound


def _cursor_seq(chat_id: uuid.UUID, message_id: uuid.UUID) -> int:
    seq = Message.objects.filter(pk=message_id, chat_id=chat_id).values_list("seq", flat=True).first()
    if seq is None:
        raise NotFound("The cursor message is not in this chat.", code="message_not_found")
    return seq


def message_page(
    *,
    user_id: uuid.UUID,
    chat_id: uuid.UUID,
    limit: int,
    before_id: uuid.UUID | None = None,
    after_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    """A page of history, oldest first; no cursor means the newest page.

    Three queries whatever the page size: membership, cursor, page (+1 row to
    know whether more exist in the walking direction).
    """
    if before_id and after_id:
        raise InvalidInput("Use before_id or after_id, not both.", code="conflicting_cursors")
    member = membership_get(user_id=user_id, chat_id=chat_id)
    rows = Message.objects.filter(chat_id=member.chat_id)
    if after_id:
        seq = _cursor_seq(member.chat_id, after_id)
        page = list(rows.filter(seq__gt=seq).order_by("seq")[: limit + 1])
        has_previous, has_next = True, len(page) > limit
        page = page[:limit]
    else:
        if before_id:
            rows = rows.filter(seq__lt=_cursor_seq(member.chat_id, before_id))
        page = list(rows.order_by("-seq")[: limit + 1])
        has_previous, has_next = len(page) > limit, before_id is not None
        page = page[:limit][::-1]
    return {"messages": [message_payload(m) for m in page], "has_previous": has_previous, "has_next": has_next}


def message_get(*, user_id: uuid.UUID, chat_id: uuid.UUID, message_id: uuid.UUID) -> Message:
    member = membership_get(user_id=user_id, chat_id=chat_id)
    message = Message.objects.filter(pk=message_id, chat_id=member.chat_id).first()
    if message is None:
        raise NotFound("Message not found.", code="message_not_found")
    return message
