"""Reads of messages: keyset pages over ``(chat_id, seq)``, and the chat list (chats with their last message)."""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from django.conf import settings
from django.db.models import Case, Count, F, OuterRef, QuerySet, Subquery, Value, When, Window
from django.db.models.functions import Coalesce

from chats.models import Chat, ChatMember
from chats.selectors import membership_get
from messaging.models import Message
from messaging.payloads import iso, last_message_fields, message_fields, message_payload
from neonchat.db import fetch_rows, iso_text
from neonchat.errors import InvalidInput, NotFound
from neonchat.ids import uuid_or_none
from presence.selectors import online_map


def _cursor_seq(chat_id: uuid.UUID, message_id: uuid.UUID) -> int:
    seq = Message.objects.filter(pk=message_id, chat_id=chat_id).values_list("seq", flat=True).first()
    if seq is None:
        raise NotFound("The cursor message is not in this chat.", code="message_not_found")
    return seq


# A history page as one statement (PostgreSQL): the membership check and the
# cursor's seq ride inside it, so a page costs one round trip and no ORM
# compilation; ids and times come as the text the payload holds. No row
# means: not a member, a cursor from elsewhere, or simply nothing there; only
# then do the checks below tell which (error paths only).
_PAGE = """
SELECT m.id::text, m.chat_id::text, m.sender_id::text, m.text, m.seq, {created_at}, {updated_at},
       m.deleted_at, m.kind, m.event
FROM messages m
WHERE m.chat_id = %(chat)s
  AND EXISTS (SELECT 1 FROM chat_members cm WHERE cm.chat_id = %(chat)s AND cm.user_id = %(user)s)
  {cursor}
ORDER BY m.seq {order} LIMIT %(rows)s
"""
_CURSOR_SEQ = "(SELECT c.seq FROM messages c WHERE c.id = %(cursor)s AND c.chat_id = %(chat)s)"
_TIMES = {"created_at": iso_text("m.created_at"), "updated_at": iso_text("m.updated_at")}
_PAGES = {  # by cursor direction: newest first, older than the cursor, newer than the cursor
    None: _PAGE.format(cursor="", order="DESC", **_TIMES),
    "before": _PAGE.format(cursor=f"AND m.seq < {_CURSOR_SEQ}", order="DESC", **_TIMES),
    "after": _PAGE.format(cursor=f"AND m.seq > {_CURSOR_SEQ}", order="ASC", **_TIMES),
}


def _page_rows_sql(
    user_id: uuid.UUID, chat_id: uuid.UUID, rows: int, cursor: tuple[str, uuid.UUID] | None
) -> list[dict[str, Any]]:
    direction, cursor_id = cursor if cursor else (None, None)
    _, found = fetch_rows(_PAGES[direction], {"chat": chat_id, "user": user_id, "cursor": cursor_id, "rows": rows})
    if not found:  # which of the reasons: the same checks, in the same order, as the ORM path
        member = membership_get(user_id=user_id, chat_id=chat_id)
        if cursor_id is not None:
            _cursor_seq(member.chat_id, cursor_id)
    return [_row_payload(row) for row in found]


def _row_payload(row: tuple[Any, ...]) -> dict[str, Any]:
    message_id, chat_id, sender_id, text, seq, created_at, updated_at, deleted_at, kind, event = row
    return message_fields(
        message_id=message_id, chat_id=chat_id, sender_id=sender_id, text=text, seq=seq,
        created_at=created_at, updated_at=updated_at, deleted_at=deleted_at, kind=kind,
        event=None if event is None else orjson.loads(event),  # Django's connections load jsonb as text
    )  # fmt: skip


def _page_rows_orm(
    user_id: uuid.UUID, chat_id: uuid.UUID, rows: int, cursor: tuple[str, uuid.UUID] | None
) -> list[dict[str, Any]]:
    member = membership_get(user_id=user_id, chat_id=chat_id)
    messages = Message.objects.filter(chat_id=member.chat_id)
    if cursor is None:
        messages = messages.order_by("-seq")
    else:
        direction, cursor_id = cursor
        seq = _cursor_seq(member.chat_id, cursor_id)
        messages = messages.filter(seq__gt=seq).order_by("seq") if direction == "after" else (
            messages.filter(seq__lt=seq).order_by("-seq")
        )  # fmt: skip
    return [message_payload(m) for m in messages[:rows]]


def message_page(
    *,
    user_id: uuid.UUID,
    chat_id: uuid.UUID,
    limit: int,
    before_id: uuid.UUID | None = None,
    after_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    """A page of history, oldest first; no cursor means the newest page.

    One statement on PostgreSQL (membership, cursor and page; +1 row to know
    whether more exist in the walking direction); the ORM on SQLite.
    """
    if before_id and after_id:
        raise InvalidInput("Use before_id or after_id, not both.", code="conflicting_cursors")
    cursor = ("after", after_id) if after_id else ("before", before_id) if before_id else None
    rows_of = _page_rows_orm if settings.EMBEDDED_DATABASE else _page_rows_sql
    page = rows_of(user_id, chat_id, limit + 1, cursor)
    if after_id:
        return {"messages": page[:limit], "has_previous": True, "has_next": len(page) > limit}
    return {"messages": page[:limit][::-1], "has_previous": len(page) > limit, "has_next": before_id is not None}


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
    "chat__last_message__kind",
    "chat__last_message__event",
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
            message_id=row["chat__last_message_id"],
            text=row["chat__last_message__text"],
            sender_id=row["chat__last_message__sender_id"],
            created_at=row["chat__last_message__created_at"],
            deleted_at=row["chat__last_message__deleted_at"],
            kind=row["chat__last_message__kind"],
            event=row["chat__last_message__event"],
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


# The chat list as one fixed statement (PostgreSQL): the same rows as
# _member_rows' queryset, without building and compiling that queryset for every
# request (the ORM's share of a chat-list request was larger than the query's;
# docs/performance.md). The partial index of event messages answers the count.
# Ids and times come as the text the response holds (ordered by the columns
# themselves, ``mine.``). A test holds the two paths to the same answers.
_CHAT_PAGE_TEMPLATE = """
WITH mine AS (
    SELECT cm.chat_id, cm.user_id, cm.partner_id, pu.username AS partner__username, cm.last_read_seq,
           pm.last_read_seq AS partner_last_read_seq,
           CASE WHEN c.last_seq > cm.last_read_seq THEN c.last_seq - cm.last_read_seq - COALESCE((
               SELECT count(*) FROM messages e
               WHERE e.chat_id = cm.chat_id AND e.kind = 'event' AND e.seq > cm.last_read_seq), 0)
           ELSE 0 END AS unread,
           c.kind AS chat__kind, c.title AS chat__title, c.members_count AS chat__members_count,
           c.last_seq AS chat__last_seq, c.updated_at AS chat__updated_at, c.last_message_id AS chat__last_message_id,
           lm.text AS chat__last_message__text, lm.sender_id AS chat__last_message__sender_id,
           lm.created_at AS chat__last_message__created_at, lm.deleted_at AS chat__last_message__deleted_at,
           lm.kind AS chat__last_message__kind, lm.event AS chat__last_message__event
    FROM chat_members cm
    JOIN chats c ON c.id = cm.chat_id
    LEFT JOIN users pu ON pu.id = cm.partner_id
    LEFT JOIN chat_members pm ON pm.chat_id = cm.chat_id AND pm.user_id = cm.partner_id
    LEFT JOIN messages lm ON lm.id = c.last_message_id
    WHERE cm.user_id = %(user)s
)
SELECT chat_id::text AS chat_id, user_id::text AS user_id, partner_id::text AS partner_id, partner__username,
       last_read_seq, partner_last_read_seq, unread, chat__kind, chat__title, chat__members_count, chat__last_seq,
       {updated_at} AS chat__updated_at, chat__last_message_id::text AS chat__last_message_id,
       chat__last_message__text, chat__last_message__sender_id::text AS chat__last_message__sender_id,
       {last_created_at} AS chat__last_message__created_at,
       chat__last_message__deleted_at, chat__last_message__kind, chat__last_message__event,
       count(*) OVER () AS total
FROM mine
WHERE unread > 0 OR NOT %(unread_only)s
ORDER BY mine.chat__updated_at DESC, mine.chat_id DESC
LIMIT %(limit)s OFFSET %(offset)s
"""
_CHAT_PAGE = _CHAT_PAGE_TEMPLATE.format(
    updated_at=iso_text("chat__updated_at"), last_created_at=iso_text("chat__last_message__created_at")
)


def _chat_page_sql(user_id: uuid.UUID | str, limit: int, offset: int, unread_only: bool) -> list[dict[str, Any]]:
    params = {"user": str(user_id), "unread_only": unread_only, "limit": limit, "offset": offset}
    columns, found = fetch_rows(_CHAT_PAGE, params)
    rows = [dict(zip(columns, row, strict=True)) for row in found]
    for row in rows:  # Django's connections load jsonb as text; the ORM's JSONField parses it
        if row["chat__last_message__event"] is not None:
            row["chat__last_message__event"] = orjson.loads(row["chat__last_message__event"])
    return rows


def _chat_page_orm(user_id: uuid.UUID | str, limit: int, offset: int, unread_only: bool) -> list[dict[str, Any]]:
    rows = _member_rows(ChatMember.objects.filter(user_id=user_id))
    if unread_only:
        rows = rows.filter(unread__gt=0)  # type: ignore[misc]  # an annotation of _member_rows
    ordered = rows.annotate(total=Window(Count("*"))).order_by("-chat__updated_at", "-chat_id")
    return list(ordered.values(*_ROW, "total")[offset : offset + limit])


def chat_list(*, user_id: uuid.UUID | str, limit: int, offset: int, unread_only: bool) -> dict[str, Any]:
    """One page of the user's chats, newest activity first: one query (the total rides
    along as a window count) and one presence read. On SQLite (embedded mode) the
    same rows come from the ORM."""
    page_of = _chat_page_orm if settings.EMBEDDED_DATABASE else _chat_page_sql
    page = page_of(user_id, limit, offset, unread_only)
    # A page past the end has no row to carry the total: the first page's first row does.
    first = page or (page_of(user_id, 1, 0, unread_only) if offset else [])
    total = first[0]["total"] if first else 0
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
