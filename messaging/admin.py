"""Moderation of messages: search by user and text; deleting sends ``message_deleted``."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from messaging.models import Message
from messaging.services import message_delete


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ("id", "chat", "sender", "seq", "short_text", "created_at", "deleted_at")
    list_filter = ("deleted_at",)
    search_fields = ("text", "sender__username", "chat__id")
    list_select_related = ("sender", "chat")
    readonly_fields = ("id", "chat", "sender", "seq", "request_id", "created_at", "updated_at", "deleted_at", "text")
    actions = ("delete_as_moderator",)

    @admin.display(description="text")
    def short_text(self, obj: Message) -> str:
        return obj.text[:80]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Message | None = None) -> bool:
        return False  # hard deletes would leave a seq gap; use the moderation action

    def get_actions(self, request: HttpRequest) -> dict:  # type: ignore[type-arg]
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    @admin.action(description="Delete selected messages (tombstone; members are notified)")
    def delete_as_moderator(self, request: HttpRequest, queryset: QuerySet[Message]) -> None:
        count = 0
        for message in queryset:
            message_delete(user_id=None, chat_id=message.chat_id, message_id=message.pk, moderator=True)
            count += 1
        self.message_user(request, f"Deleted {count} message(s).", messages.SUCCESS)
