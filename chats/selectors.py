"""Reads of chats and the membership check every transport goes through."""

from __future__ import annotations

import uuid

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
