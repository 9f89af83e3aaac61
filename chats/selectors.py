"""Reads of chats and the membership check every transport goes through."""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import Case, Count, F, OuterRef, QuerySet, Subquery, Value, When, Window
from django.db.models.functions import Coalesce

from chats.models import Chat, ChatMember
from messaging.models import Message
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


def chat_others(*, user_id: uuid.UUID | str, chat_id: uuid.UUID | str) -> list[str]:
    """The other members of a chat of the user's (typing's audience); 404 if not a member."""
    member = membership_get(user_id=user_id, chat_id=chat_id)
    if member.partner_id is not None:
        return [str(member.partner_id)]
    others = ChatMember.objects.filter(chat_id=member.chat_id).exclude(user_id=member.user_id)
    return [str(uid) for uid in others.values_list("user_id", flat=True)]


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


def _co_members(user_id: uuid.UUID | str) -> QuerySet[ChatMember]:
    """The membership rows of everyone who shares a chat with the user (direct or group)."""
    mine = ChatMember.objects.filter(user_id=user_id).values("chat_id")
    return ChatMember.objects.filter(chat_id__in=mine).exclude(user_id=user_id)


def partner_ids(*, user_id: uuid.UUID | str) -> list[str]:
    """Everyone who shares a chat with the user, each once (presence audience)."""
    return [str(uid) for uid in _co_members(user_id).values_list("user_id", flat=True).distinct()]


def visible_presence(*, viewer_id: uuid.UUID | str, user_ids: list[str]) -> dict[str, bool | None]:
    """``{user_id: online}`` for the users who share a chat with ``viewer_id``, ``None`` for the others.

    Presence events go to those who share a chat only; a lookup must not tell strangers more.
    """
    wanted = [uuid.UUID(uid) for uid in user_ids]
    partners = {str(uid) for uid in _co_members(viewer_id).filter(user_id__in=wanted).values_list("user_id", flat=True)}
    online = online_map(sorted(partners))
    return {uid: online[uid] if uid in partners else None for uid in user_ids}


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
    rows = ChatMember.objects.filter(user_id=user_id, chat_id=_as_uuid(chat_id, "chat"))
    row = _member_rows(rows).values(*_ROW).first()
    if row is None:
        raise NotFound("Chat not found.", code="chat_not_found")
    return _chat_item(row, online_map([str(row["partner_id"])] if row["partner_id"] else []))


def chat_views(*, chat_id: uuid.UUID | str, user_ids: list[str]) -> dict[str, dict[str, Any]]:
    """``{user_id: the chat as that member sees it}`` in one query (chat_created/chat_updated frames)."""
    rows = _member_rows(ChatMember.objects.filter(chat_id=chat_id, user_id__in=[uuid.UUID(u) for u in user_ids]))
    page = list(rows.values(*_ROW))
    online = online_map(sorted({str(row["partner_id"]) for row in page if row["partner_id"]}))
    return {str(row["user_id"]): _chat_item(row, online) for row in page}


_ROLE_ORDER = Case(
    When(role=ChatMember.Role.OWNER, then=Value(0)), When(role=ChatMember.Role.ADMIN, then=Value(1)), default=Value(2)
)


def member_items(rows: QuerySet[ChatMember]) -> list[dict[str, Any]]:
    """The members shape (``GET .../members``) of ``rows``, one query and one presence read."""
    page = list(rows.values("user_id", "user__username", "role", "last_read_seq"))
    online = online_map([str(row["user_id"]) for row in page])
    return [
        {
            "id": str(row["user_id"]),
            "username": row["user__username"],
            "role": row["role"],
            "online": online.get(str(row["user_id"]), False),
            "last_read_seq": row["last_read_seq"],
        }
        for row in page
    ]


def chat_members_page(*, user_id: uuid.UUID | str, chat_id: uuid.UUID | str, limit: int, offset: int) -> dict[str, Any]:
    """A page of a chat's members (owner, admins, then members by joining), for a member of it."""
    member = membership_get(user_id=user_id, chat_id=chat_id)
    rows = ChatMember.objects.filter(chat_id=member.chat_id)
    ordered = rows.annotate(rank=_ROLE_ORDER).order_by("rank", "joined_at", "id")[offset : offset + limit]
    return {"members": member_items(ordered), "total": member.chat.members_count}


def chat_get(*, chat_id: uuid.UUID | str) -> Chat:
    chat = Chat.objects.filter(pk=_as_uuid(chat_id, "chat")).first()
    if chat is None:
        raise NotFound("Chat not found.", code="chat_not_found")
    return chat
