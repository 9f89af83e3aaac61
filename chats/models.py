"""Chats (1:1 and groups) and each member's state (role, read watermark)."""

from __future__ import annotations

import uuid
from typing import ClassVar

from django.conf import settings
from django.db import models

GROUP_MAX_MEMBERS = 256
TITLE_MAX = 100


class Chat(models.Model):
    """A 1:1 chat or a group.

    A direct chat stores its pair ordered (``user_low < user_high``), so a
    plain unique constraint is the spec's unique index on
    ``(LEAST(a, b), GREATEST(a, b))`` and concurrent creation cannot duplicate
    it. A group has no pair (both NULL: NULLs never collide in a unique index);
    its members are the ``chat_members`` rows.

    ``last_seq`` is the per-chat message counter: the send path increments it
    under the row lock, which is what makes ``seq`` gap-free. Every membership
    change takes the same lock and bumps ``members_version``: a send whose
    snapshot predates a change it then waited for sees the new version on the
    locked row and re-checks (``messaging.services``).
    """

    class Kind(models.TextChoices):
        DIRECT = "direct"
        GROUP = "group"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.DIRECT, db_default=Kind.DIRECT)
    title = models.CharField(max_length=TITLE_MAX, blank=True, default="", db_default="")  # direct: "" (API: null)
    user_low = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    user_high = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    members_count = models.IntegerField(default=2, db_default=2)
    members_version = models.BigIntegerField(default=0, db_default=0)
    last_seq = models.BigIntegerField(default=0)
    # Not indexed: every send moves it, and an update that changes no indexed
    # column stays on its heap page (HOT) instead of touching every index. Only
    # a hard delete of messages (a user or chat deleted) looks chats up by it.
    last_message = models.ForeignKey(
        "messaging.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "chats"
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["user_low", "user_high"], name="idx_chat_pair"),
            models.CheckConstraint(condition=models.Q(user_low__lt=models.F("user_high")), name="chat_pair_ordered"),
            models.CheckConstraint(
                condition=models.Q(kind="direct", user_low__isnull=False, user_high__isnull=False)
                | models.Q(kind="group", user_low__isnull=True, user_high__isnull=True),
                name="chat_kind_pair",
            ),
        ]

    def __str__(self) -> str:
        return f"chat {self.pk}"

    @property
    def is_group(self) -> bool:
        return self.kind == Chat.Kind.GROUP

    def member_ids(self) -> list[str]:
        """Every current member: the pair of a direct chat (no query), a group's rows."""
        if not self.is_group:
            return [str(self.user_low_id), str(self.user_high_id)]
        return [str(uid) for uid in ChatMember.objects.filter(chat_id=self.pk).values_list("user_id", flat=True)]


class ChatMember(models.Model):
    """One row per (chat, current member): the chat list's source, with the
    partner (direct chats; NULL in groups), the role and the watermark. A
    member who leaves or is removed loses the row, and with it every access."""

    class Role(models.TextChoices):
        OWNER = "owner"
        ADMIN = "admin"
        MEMBER = "member"

    chat = models.ForeignKey(Chat, on_delete=models.CASCADE, related_name="members")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_memberships")
    partner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    role = models.CharField(max_length=8, choices=Role.choices, default=Role.MEMBER, db_default=Role.MEMBER)
    last_read_seq = models.BigIntegerField(default=0)
    joined_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "chat_members"
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["user", "chat"], name="chat_member_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.chat_id}"
