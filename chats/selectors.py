"""Reads of chats and the membership check every transport goes through."""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import Case, QuerySet, Value, When

from chats.models import ChatMember
from neonchat.errors import NotFound
from neonchat.ids import uuid_or_none
from presence.selectors import online_map


def _as_uuid(value: uuid.UUID | str, what: str) -> uuid.UUID:
    parsed = uuid_or_none(value)
    if parsed is None:
        raise NotFound(f"{what.capitalize()} not found.", code=f"{what}_not_found")
    return parsed


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
