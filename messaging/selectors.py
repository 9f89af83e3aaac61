"""Reads of messages: keyset pages over ``(chat_id, seq)``, and the chat list (chats with their last message)."""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import Case, Count, F, OuterRef, QuerySet, Subquery, Value, When, Window
from django.db.models.functions import Coalesce

from chats.models import Chat, ChatMember
from chats.selectors import membership_get
from messaging.models import Message
from messaging.payloads import iso, last_message_fields, message_payload
from neonchat.errors import InvalidInput, NotFound
from neonchat.ids import uuid_or_none
from presence.selectors import online_map


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


# The chat list's columns: plain rows (values()), no model instances per chat.
_ROW = (
    "chat_id",
    "user_id",
    "partner_id",
    "partner__username",
    "last_read_seq",
    "partner_last_read_seq",
    "unread",
    "chat__kind",
    "chat__title",
    "chat__members_count",
    "chat__last_seq",
    "chat__updated_at",
    "chat__last_message_id",
    "chat__last_message__text",
    "chat__last_message__sender_id",
    "chat__last_message__created_at",
    "chat__last_message__deleted_at",
)


def _member_rows(rows: QuerySet[ChatMember]) -> QuerySet[ChatMember]:
    """Chat-list rows with the partner's watermark and ``unread``: the messages after
    my watermark but event messages (mine never follow it: a send or a change of
    mine moves it), counted on the partial index of events only when there are any."""
    partner_read = ChatMember.objects.filter(chat_id=OuterRef("chat_id"), user_id=OuterRef("partner_id"))
    events = (
        Message.objects.filter(chat_id=OuterRef("chat_id"), kind=Message.Kind.EVENT, seq__gt=OuterRef("last_read_seq"))
        .order_by()
        .values("chat_id")
        .annotate(n=Count("*"))
        .values("n")
    )
    behind = F("chat__last_seq") - F("last_read_seq")
    return rows.annotate(
        partner_last_read_seq=Subquery(partner_read.values("last_read_seq")[:1]),
        unread=Case(
            When(chat__last_seq__gt=F("last_read_seq"), then=behind - Coalesce(Subquery(events), Value(0))),
            default=Value(0),
        ),
    )


def _chat_item(row: dict[str, Any], online: dict[str, bool]) -> dict[str, Any]:
    group = row["chat__kind"] == Chat.Kind.GROUP
    partner = None
    if not group:
        partner_id = str(row["partner_id"])
        partner = {"id": partner_id, "username": row["partner__username"], "online": online.get(partner_id, False)}
    last_message = None
    if row["chat__last_message_id"] is not None:
        last_message = last_message_fields(
            row["chat__last_message_id"],
            row["chat__last_message__text"],
            row["chat__last_message__sender_id"],
            row["chat__last_message__created_at"],
            row["chat__last_message__deleted_at"],
        )
    return {
        "id": str(row["chat_id"]),
        "kind": row["chat__kind"],
        "title": row["chat__title"] if group else None,
        "members_count": row["chat__members_count"],
        "partner": partner,
        "last_message": last_message,
        "unread_count": max(0, row["unread"]),
        "last_read_seq": row["last_read_seq"],
        "partner_last_read_seq": row["partner_last_read_seq"] or 0,
        "last_seq": row["chat__last_seq"],
        "updated_at": iso(row["chat__updated_at"]),
    }


def chat_list(*, user_id: uuid.UUID | str, limit: int, offset: int, unread_only: bool) -> dict[str, Any]:
    """One page of the user's chats, newest activity first: one query (the total rides
    along as a window count) and one presence read."""
    rows = _member_rows(ChatMember.objects.filter(user_id=user_id))
    if unread_only:
        rows = rows.filter(unread__gt=0)  # type: ignore[misc]  # an annotation of _member_rows
    ordered = rows.annotate(total=Window(Count("*"))).order_by("-chat__updated_at", "-chat_id")
    page = list(ordered.values(*_ROW, "total")[offset : offset + limit])
    # A page past the end has no row to carry the total.
    total = page[0]["total"] if page else (rows.count() if offset else 0)
    online = online_map([str(row["partner_id"]) for row in page if row["partner_id"]])
    return {"chats": [_chat_item(r, online) for r in page], "total": total, "has_more": offset + len(page) < total}


def chat_detail(*, user_id: uuid.UUID | str, chat_id: uuid.UUID | str) -> dict[str, Any]:
    chat_uuid = uuid_or_none(chat_id)
    rows = None if chat_uuid is None else _member_rows(ChatMember.objects.filter(user_id=user_id, chat_id=chat_uuid))
    row = None if rows is None else rows.values(*_ROW).first()
    if row is None:
        raise NotFound("Chat not found.", code="chat_not_found")
    return _chat_item(row, online_map([str(row["partner_id"])] if row["partner_id"] else []))


def chat_views(*, chat_id: uuid.UUID | str, user_ids: list[str]) -> dict[str, dict[str, Any]]:
    """``{user_id: the chat as that member sees it}`` in one query (chat_created/chat_updated frames)."""
    rows = _member_rows(ChatMember.objects.filter(chat_id=chat_id, user_id__in=[uuid.UUID(u) for u in user_ids]))
    page = list(rows.values(*_ROW))
    online = online_map(sorted({str(row["partner_id"]) for row in page if row["partner_id"]}))
    return {str(row["user_id"]): _chat_item(row, online) for row in page}
