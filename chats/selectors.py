"""Reads of chats and the membership check every transport goes through."""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import Count, F, OuterRef, QuerySet, Subquery, Window

from chats.models import Chat, ChatMember
from messaging.payloads import iso, last_message_fields
from neonchat.errors import NotFound
from presence.selectors import online_map


def _as_uuid(value: uuid.UUID | str, what: str) -> uuid.UUID:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except ValueError:
        raise NotFound(f"{what.capitalize()} not found.", code=f"{what}_not_found") from None


def membership_get(*, user_id: uuid.UUID | str, chat_id: uuid.UUID | str) -> ChatMember:
    """The caller's membership of a chat; 404 (no existence leak) if not a member."""
    member = (
        ChatMember.objects.filter(user_id=_as_uuid(user_id, "user"), chat_id=_as_uuid(chat_id, "chat"))
        .select_related("chat")
        .first()
    )
    if member is None:
        raise NotFound("Chat not found.", code="chat_not_found")
    return member


def member_chat_ids(*, user_id: uuid.UUID | str, chat_id: uuid.UUID | None = None) -> list[uuid.UUID]:
    """The chats the user is a member of now; ``chat_id``: only that one, 404
    if the user is not in it."""
    rows = ChatMember.objects.filter(user_id=_as_uuid(user_id, "user"))
    if chat_id is not None:
        rows = rows.filter(chat_id=chat_id)
    chat_ids = list(rows.values_list("chat_id", flat=True))
    if chat_id is not None and not chat_ids:
        raise NotFound("Chat not found.", code="chat_not_found")
    return chat_ids


def chat_has_member(*, user_id: str, chat_id: str) -> bool:
    """Membership as a yes/no; malformed ids raise ``ValueError`` for the caller to map."""
    return ChatMember.objects.filter(user_id=uuid.UUID(user_id), chat_id=uuid.UUID(chat_id)).exists()


def chat_member_ids(*, chat_id: uuid.UUID | str) -> list[str]:
    return [str(uid) for uid in ChatMember.objects.filter(chat_id=chat_id).values_list("user_id", flat=True)]


def partner_ids(*, user_id: uuid.UUID | str) -> list[str]:
    """Everyone who shares a chat with the user (presence audience)."""
    return [str(pid) for pid in ChatMember.objects.filter(user_id=user_id).values_list("partner_id", flat=True)]


def visible_presence(*, viewer_id: uuid.UUID | str, user_ids: list[str]) -> dict[str, bool | None]:
    """``{user_id: online}`` for the users who share a chat with ``viewer_id``, ``None`` for the others.

    Presence events go to partners only; a lookup must not tell strangers more.
    """
    partners = {
        str(pid)
        for pid in ChatMember.objects.filter(
            user_id=viewer_id, partner_id__in=[uuid.UUID(uid) for uid in user_ids]
        ).values_list("partner_id", flat=True)
    }
    online = online_map(sorted(partners))
    return {uid: online[uid] if uid in partners else None for uid in user_ids}


# The chat list's columns: plain rows (values()), no model instances per chat.
_ROW = (
    "chat_id",
    "partner_id",
    "partner__username",
    "last_read_seq",
    "partner_last_read_seq",
    "chat__last_seq",
    "chat__updated_at",
    "chat__last_message_id",
    "chat__last_message__text",
    "chat__last_message__sender_id",
    "chat__last_message__created_at",
    "chat__last_message__deleted_at",
)


def _member_rows(user_id: uuid.UUID | str) -> QuerySet[ChatMember]:
    partner_read = ChatMember.objects.filter(chat_id=OuterRef("chat_id"), user_id=OuterRef("partner_id"))
    return ChatMember.objects.filter(user_id=user_id).annotate(
        partner_last_read_seq=Subquery(partner_read.values("last_read_seq")[:1])
    )


def _chat_item(row: dict[str, Any], online: dict[str, bool]) -> dict[str, Any]:
    partner_id = str(row["partner_id"])
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
        "partner": {"id": partner_id, "username": row["partner__username"], "online": online.get(partner_id, False)},
        "last_message": last_message,
        "unread_count": max(0, row["chat__last_seq"] - row["last_read_seq"]),
        "last_read_seq": row["last_read_seq"],
        "partner_last_read_seq": row["partner_last_read_seq"] or 0,
        "last_seq": row["chat__last_seq"],
        "updated_at": iso(row["chat__updated_at"]),
    }


def chat_list(*, user_id: uuid.UUID | str, limit: int, offset: int, unread_only: bool) -> dict[str, Any]:
    """One page of the user's chats, newest activity first: one query (the total rides
    along as a window count) and one presence read."""
    rows = _member_rows(user_id)
    if unread_only:
        rows = rows.filter(chat__last_seq__gt=F("last_read_seq"))
    ordered = rows.annotate(total=Window(Count("*"))).order_by("-chat__updated_at", "-chat_id")
    page = list(ordered.values(*_ROW, "total")[offset : offset + limit])
    # A page past the end has no row to carry the total.
    total = page[0]["total"] if page else (rows.count() if offset else 0)
    online = online_map([str(row["partner_id"]) for row in page])
    return {"chats": [_chat_item(r, online) for r in page], "total": total, "has_more": offset + len(page) < total}


def chat_detail(*, user_id: uuid.UUID | str, chat_id: uuid.UUID | str) -> dict[str, Any]:
    row = _member_rows(user_id).filter(chat_id=_as_uuid(chat_id, "chat")).values(*_ROW).first()
    if row is None:
        raise NotFound("Chat not found.", code="chat_not_found")
    return _chat_item(row, online_map([str(row["partner_id"])]))


def chat_get(*, chat_id: uuid.UUID | str) -> Chat:
    chat = Chat.objects.filter(pk=_as_uuid(chat_id, "chat")).first()
    if chat is None:
        raise NotFound("Chat not found.", code="chat_not_found")
    return chat
