"""1:1 chats and each member's state (read watermark)."""

from __future__ import annotations

import uuid
from typing import ClassVar

from django.conf import settings
from django.db import models


class Chat(models.Model):
    """A 1:1 chat. The pair is stored ordered (``user_low < user_high``), so a
    plain unique constraint is the spec's unique index on
    ``(LEAST(a, b), GREATEST(a, b))`` and concurrent creation cannot duplicate it.

    ``last_seq`` is the per-chat message counter: the send path increments it
    under the row lock, which is what makes ``seq`` gap-free.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user_low = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    user_high = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
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
        ]

    def __str__(self) -> str:
        return f"chat {self.pk}"

    def member_ids(self) -> list[str]:
        return [str(self.user_low_id), str(self.user_high_id)]


class ChatMember(models.Model):
    """One row per (chat, user): the chat list's source, with the partner and watermark."""

    chat = models.ForeignKey(Chat, on_delete=models.CASCADE, related_name="members")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_memberships")
    partner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    last_read_seq = models.BigIntegerField(default=0)
    joined_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "chat_members"
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["user", "chat"], name="chat_member_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.chat_id}"
