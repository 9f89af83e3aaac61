"""Moderation of messages: search by user and text; deleting sends ``message_deleted``."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from messaging.models import Message
from messaging.services import message_delete


class DeletedFilter(admin.SimpleListFilter):
    title = "deleted"
    parameter_name = "deleted"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:  # type: ignore[type-arg]
        return [("yes", "Deleted"), ("no", "Not deleted")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Message]) -> QuerySet[Message]:
        if self.value() in ("yes", "no"):
            return queryset.filter(deleted_at__isnull=self.value() == "no")
        return queryset


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ("chat_id", "seq", "sender", "short_text", "created_at", "deleted_at")
    list_display_links = ("seq",)
    # A chat's history reads top-down, newest first; chats grouped.
    ordering = ("chat_id", "-seq")
    list_filter = (
        DeletedFilter,
        ("sender", admin.RelatedOnlyFieldListFilter),
        ("chat", admin.RelatedOnlyFieldListFilter),
    )
    search_fields = ("text", "sender__username", "=chat__id")
    list_select_related = ("sender",)
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
