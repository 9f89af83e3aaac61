"""Every write of groups: create, rename, add and remove members, leave, roles.

Each is one transaction that takes the chat's row lock first (the lock every
send takes), so membership changes are serialized with each other and with
sends: concurrent adds and removes of the same user end in one state, a send
either precedes a removal in ``seq`` or is refused. A change of members or
title and its event message (``messaging.services.event_message_store``)
commit together. After commit, ``group_changed`` announces the change (chat
frames) and ``message_committed`` the event message.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from django.db import transaction

from accounts.models import User
from chats.models import GROUP_MAX_MEMBERS, TITLE_MAX, Chat, ChatMember
from chats.selectors import member_items, membership_get
from messaging.services import event_message_store
from messaging.signals import group_changed
from neonchat.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from neonchat.text import has_visible_text

Role = ChatMember.Role
MODERATORS = (Role.OWNER, Role.ADMIN)


def validate_title(title: str) -> str:
    if not has_visible_text(title) or len(title) > TITLE_MAX or "\x00" in title:
        raise InvalidInput(
            f"A group title is 1-{TITLE_MAX} characters, not only spaces.",
            code="invalid_title",
            details={"title": ["1-100 characters"]},
        )
    return title


def _others(user_id: uuid.UUID, user_ids: list[uuid.UUID]) -> list[uuid.UUID]:
    """``user_ids`` deduplicated, in order, without the caller; every one an active user."""
    others = [uid for uid in dict.fromkeys(user_ids) if uid != user_id]
    if len(others) > GROUP_MAX_MEMBERS - 1:
        raise InvalidInput(f"A group has at most {GROUP_MAX_MEMBERS} members.", code="too_many_members")
    found = User.objects.filter(pk__in=others, status=User.Status.ACTIVE).count()
    if found != len(others):
        raise NotFound("User not found.", code="user_not_found")
    return others


def _event(kind: str, user_ids: list[uuid.UUID], title: str | None = None) -> dict[str, Any]:
    return {"type": kind, "user_ids": [str(uid) for uid in user_ids], "title": title}


def _announce(chat: Chat, *, added: Sequence[uuid.UUID] = (), removed: Sequence[uuid.UUID] = ()) -> list[str]:
    """The members after the change; tells them (and the removed) after commit."""
    members = [str(uid) for uid in ChatMember.objects.filter(chat_id=chat.pk).values_list("user_id", flat=True)]
    change = {
        "chat_id": str(chat.pk),
        "member_ids": members,
        "added": [str(uid) for uid in added],
        "removed": [str(uid) for uid in removed],
    }
    transaction.on_commit(lambda: group_changed.send(sender=Chat, **change))
    return members


@transaction.atomic
def group_create(*, user_id: uuid.UUID, title: str, member_ids: list[uuid.UUID]) -> Chat:
    """A group of the caller (its owner) and ``member_ids`` (1-255 others), with its
    ``chat_created`` event message as seq 1."""
    validate_title(title)
    others = _others(user_id, member_ids)
    if not others:
        raise InvalidInput("A group needs at least one other member.", code="too_few_members")
    chat = Chat.objects.create(kind=Chat.Kind.GROUP, title=title, members_count=len(others) + 1)
    ChatMember.objects.bulk_create(
        [ChatMember(chat=chat, user_id=user_id, role=Role.OWNER)]
        + [ChatMember(chat=chat, user_id=uid, role=Role.MEMBER) for uid in others]
    )
    members = _announce(chat, added=[user_id, *others])
    event_message_store(chat=chat, actor_id=user_id, event=_event("chat_created", others, title), member_ids=members)
    return chat


def _locked_group(user_id: uuid.UUID, chat_id: uuid.UUID) -> tuple[Chat, ChatMember]:
    """The group, locked, and the caller's membership read behind the lock.
    Not a member: 404 (checked before locking: strangers take no lock); a direct chat: 400."""
    member = membership_get(user_id=user_id, chat_id=chat_id)
    if not member.chat.is_group:
        raise InvalidInput("This is a direct chat, not a group.", code="not_a_group")
    chat = Chat.objects.select_for_update().get(pk=member.chat_id)
    member = ChatMember.objects.filter(chat_id=chat.pk, user_id=user_id).first()  # type: ignore[assignment]
    if member is None:  # removed while we waited for the lock
        raise NotFound("Chat not found.", code="chat_not_found")
    return chat, member


def _require_moderator(member: ChatMember) -> None:
    if member.role not in MODERATORS:
        raise PermissionDenied("Only the group's owner or admins can do this.", code="not_chat_admin")


@transaction.atomic
def group_rename(*, user_id: uuid.UUID, chat_id: uuid.UUID, title: str) -> Chat:
    validate_title(title)
    chat, member = _locked_group(user_id, chat_id)
    _require_moderator(member)
    if chat.title != title:
        chat.title = title
        members = _announce(chat)
        event_message_store(chat=chat, actor_id=user_id, event=_event("title_changed", [], title), member_ids=members)
    return chat


@transaction.atomic
def group_members_add(*, user_id: uuid.UUID, chat_id: uuid.UUID, user_ids: list[uuid.UUID]) -> list[dict[str, Any]]:
    """Add users (already members: no-op); the added ones in the members shape.
    Their watermark starts at the ``member_added`` event: nothing before it is unread."""
    chat, member = _locked_group(user_id, chat_id)
    _require_moderator(member)
    wanted = _others(user_id, user_ids)
    present = set(ChatMember.objects.filter(chat_id=chat.pk, user_id__in=wanted).values_list("user_id", flat=True))
    new = [uid for uid in wanted if uid not in present]
    if not new:
        return []
    if chat.members_count + len(new) > GROUP_MAX_MEMBERS:
        raise Conflict(f"A group has at most {GROUP_MAX_MEMBERS} members.", code="group_full")
    seq = chat.last_seq + 1
    ChatMember.objects.bulk_create(
        [ChatMember(chat=chat, user_id=uid, role=Role.MEMBER, last_read_seq=seq) for uid in new]
    )
    chat.members_count += len(new)
    members = _announce(chat, added=new)
    event_message_store(chat=chat, actor_id=user_id, event=_event("member_added", new), member_ids=members)
    return member_items(ChatMember.objects.filter(chat_id=chat.pk, user_id__in=new).order_by("id"))


def _successor(chat: Chat) -> None:
    """The owner left: the oldest admin, else the oldest member, owns the group."""
    heir = (
        ChatMember.objects.filter(chat_id=chat.pk)
        .order_by("role", "joined_at", "id")  # "admin" < "member": admins first
        .first()
    )
    if heir is not None:
        ChatMember.objects.filter(pk=heir.pk).update(role=Role.OWNER)


def _remove(chat: Chat, target: ChatMember, *, actor_id: uuid.UUID, kind: str) -> None:
    target.delete()
    chat.members_count -= 1
    if target.role == Role.OWNER:
        _successor(chat)
    members = _announce(chat, removed=[target.user_id])
    event_message_store(chat=chat, actor_id=actor_id, event=_event(kind, [target.user_id]), member_ids=members)


@transaction.atomic
def group_member_remove(*, user_id: uuid.UUID, chat_id: uuid.UUID, target_id: uuid.UUID) -> None:
    """Remove ``target_id`` (owner or admin; admins remove members only), or leave
    (``target_id`` is the caller). The owner leaving passes ownership on; the last
    member leaving ends the group (it stays, reachable by no one)."""
    chat, member = _locked_group(user_id, chat_id)
    leaving = target_id == user_id
    target = member if leaving else ChatMember.objects.filter(chat_id=chat.pk, user_id=target_id).first()
    if target is None:
        raise NotFound("That user is not a member of this group.", code="member_not_found")
    if not leaving:
        _require_moderator(member)
        if member.role != Role.OWNER and target.role in MODERATORS:
            raise PermissionDenied("Only the owner removes admins (and nobody the owner).", code="not_chat_owner")
    _remove(chat, target, actor_id=user_id, kind="member_left" if leaving else "member_removed")


@transaction.atomic
def group_member_remove_moderated(*, moderator_id: uuid.UUID, chat_id: uuid.UUID, target_id: uuid.UUID) -> None:
    """A site moderator (the admin) removes a member of any group: the same change,
    event (``member_removed`` by the moderator) and frames as a removal by its owner."""
    chat = Chat.objects.select_for_update().filter(pk=chat_id, kind=Chat.Kind.GROUP).first()
    target = ChatMember.objects.filter(chat_id=chat_id, user_id=target_id).first() if chat else None
    if chat is None or target is None:
        raise NotFound("That user is not a member of this group.", code="member_not_found")
    _remove(chat, target, actor_id=moderator_id, kind="member_removed")


@transaction.atomic
def group_member_set_role(*, user_id: uuid.UUID, chat_id: uuid.UUID, target_id: uuid.UUID, role: str) -> dict[str, Any]:
    """Make a member an admin or a member again (owner only); the member in the members shape."""
    if role not in (Role.ADMIN, Role.MEMBER):
        raise InvalidInput("role must be admin or member", code="invalid_role")
    chat, member = _locked_group(user_id, chat_id)
    if member.role != Role.OWNER:
        raise PermissionDenied("Only the group's owner can change roles.", code="not_chat_owner")
    rows = ChatMember.objects.filter(chat_id=chat.pk, user_id=target_id)
    target = rows.first()
    if target is None:
        raise NotFound("That user is not a member of this group.", code="member_not_found")
    if target.role == Role.OWNER:
        raise InvalidInput("The owner's role passes on only when the owner leaves.", code="invalid_role")
    if target.role != role:
        rows.update(role=role)
        _announce(chat)
    return member_items(rows)[0]
