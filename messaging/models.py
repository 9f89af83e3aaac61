"""Messages: gap-free per-chat ``seq``, idempotent ``request_id``, soft delete."""

from __future__ import annotations

import uuid
from typing import ClassVar

from django.conf import settings
from django.db import models


class Message(models.Model):
    class Kind(models.TextChoices):
        TEXT = "text"
        EVENT = "event"  # a membership change of a group: text "", details in ``event``

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # No index of their own: (chat, seq) and (sender, request_id) below lead with
    # them, and every index is paid again by each message stored.
    chat = models.ForeignKey("chats.Chat", on_delete=models.CASCADE, related_name="messages", db_index=False)
    sender = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False)
    text = models.TextField(blank=True)
    seq = models.BigIntegerField()
    request_id = models.UUIDField()
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    deleted_at = models.DateTimeField(null=True, blank=True)
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.TEXT, db_default=Kind.TEXT)
    # {"type": "member_added|member_removed|member_left|title_changed|chat_created", "user_ids", "title"}
    event = models.JSONField(null=True, blank=True)

    class Meta:
        db_table = "messages"
        constraints: ClassVar = [
            # Keyset pagination walks this index (chat_id, seq) in both directions.
            models.UniqueConstraint(fields=["chat", "seq"], name="msg_chat_seq_unique"),
            models.UniqueConstraint(fields=["sender", "request_id"], name="msg_sender_request_unique"),
        ]
        indexes: ClassVar = [
            # Search walks this newest first for a word in many messages, keeping the
            # caller's chats inside the index (messaging/search.py, docs/search.md).
            models.Index(fields=["created_at", "chat"], name="messages_search_order_idx"),
            # Unread counts skip event messages: the few after a watermark, found here.
            models.Index(fields=["chat", "seq"], condition=models.Q(kind="event"), name="messages_chat_event_idx"),
        ]

    def __str__(self) -> str:
        return f"message {self.pk} #{self.seq}"

    @property
    def deleted(self) -> bool:
        return self.deleted_at is not None
