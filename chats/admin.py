"""Moderation of chats: search by member, inspect state; system broadcasts."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from chats.models import Chat, ChatMember
from messaging.groups import group_member_remove_moderated
from messaging.models import Message
from neonchat.errors import ApplicationError
from neonchat.text import TEXT_MAX
from notifier.services import system_broadcast


class ChatMemberInline(admin.TabularInline):
    """A chat's members; in a group, "Delete" removes a member (through the service:
    event message, frames, the member cut off at once)."""

    model = ChatMember
    fk_name = "chat"
    extra = 0
    fields = ("user", "role", "partner", "last_read_seq", "joined_at")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Chat | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Chat | None = None) -> bool:
        return obj is not None and obj.is_group and super().has_delete_permission(request, obj)


class BroadcastForm(forms.Form):
    text = forms.CharField(widget=forms.Textarea, max_length=TEXT_MAX)


class ActivityFilter(admin.SimpleListFilter):
    title = "activity"
    parameter_name = "activity"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:  # type: ignore[type-arg]
        return [("messages", "Has messages"), ("empty", "No messages yet")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Chat]) -> QuerySet[Chat]:
        if self.value() == "messages":
            return queryset.filter(last_seq__gt=0)
        if self.value() == "empty":
            return queryset.filter(last_seq=0)
        return queryset


RECENT_MESSAGES = 50


@admin.register(Chat)
class ChatAdmin(admin.ModelAdmin):
    list_display = ("id", "kind", "title", "member_one", "member_two", "members_count", "last_seq", "updated_at")
    list_filter = ("kind", ActivityFilter, "updated_at", "created_at")
    search_fields = ("title", "user_low__username", "user_high__username", "=id")
    list_select_related = ("user_low", "user_high")
    ordering = ("-updated_at",)
    fields = (
        "id", "kind", "title", "user_low", "user_high", "members_count", "last_seq", "created_at", "updated_at",
        "recent_messages",
    )  # fmt: skip
    readonly_fields = fields
    inlines = (ChatMemberInline,)
    actions = ("broadcast_to_members",)

    @admin.display(description="member", ordering="user_low__username")
    def member_one(self, obj: Chat) -> str:
        return obj.user_low.username if obj.user_low else ""

    @admin.display(description="member", ordering="user_high__username")
    def member_two(self, obj: Chat) -> str:
        return obj.user_high.username if obj.user_high else ""

    @admin.display(description=f"recent messages (last {RECENT_MESSAGES}, newest first)")
    def recent_messages(self, obj: Chat) -> str:
        rows = Message.objects.filter(chat=obj).select_related("sender").order_by("-seq")[:RECENT_MESSAGES]
        if not rows:
            return "No messages yet."
        body = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((m.seq, m.sender.username, "(deleted)" if m.deleted_at else m.text[:200], m.created_at) for m in rows),
        )
        link = reverse("admin:messaging_message_changelist") + f"?chat__id__exact={obj.pk}"
        return format_html(
            "<table><tr><th>seq</th><th>sender</th><th>text</th><th>sent</th></tr>{}</table>"
            '<a href="{}">All messages of this chat</a>',
            body,
            link,
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # chats are created by users through the API

    def save_model(self, request: HttpRequest, obj: Chat, form: Any, change: bool) -> None:
        """Nothing of the chat row is edited here (a save would write back a stale last_seq)."""

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        """Members deleted in the inline are removed through the group service."""
        moderator = request.user.pk
        assert moderator is not None  # the admin site admits logged-in staff only
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        for member in formset.deleted_forms:
            target = member.instance
            try:
                group_member_remove_moderated(moderator_id=moderator, chat_id=target.chat_id, target_id=target.user_id)
            except ApplicationError as error:
                self.message_user(request, error.message, messages.ERROR)
            else:
                formset.deleted_objects.append(target)

    @admin.action(description="Send a system message to the members of the selected chats")
    def broadcast_to_members(self, request: HttpRequest, queryset: QuerySet[Chat]) -> HttpResponse | None:
        form = BroadcastForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            user_ids = sorted({uid for chat in queryset for uid in chat.member_ids()})
            try:
                count = system_broadcast(text=form.cleaned_data["text"], user_ids=user_ids)
            except ApplicationError as error:
                self.message_user(request, error.message, messages.ERROR)
                return None
            self.message_user(request, f"System message delivered to {count} connected user(s).", messages.SUCCESS)
            return None
        context = {**self.admin_site.each_context(request), "form": form, "chats": queryset, "title": "Broadcast"}
        return render(request, "admin/chats/broadcast.html", context)
