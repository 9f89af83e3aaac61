"""Moderation of chats: search by member, inspect state; system broadcasts."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from chats.models import Chat, ChatMember
from neonchat.errors import ApplicationError
from notifier.services import system_broadcast


class ChatMemberInline(admin.TabularInline):
    model = ChatMember
    fk_name = "chat"
    extra = 0
    fields = ("user", "partner", "last_read_seq", "joined_at")
    readonly_fields = fields
    can_delete = False


class BroadcastForm(forms.Form):
    text = forms.CharField(widget=forms.Textarea, max_length=4096)


@admin.register(Chat)
class ChatAdmin(admin.ModelAdmin):
    list_display = ("id", "user_low", "user_high", "last_seq", "updated_at")
    search_fields = ("user_low__username", "user_high__username", "id")
    list_select_related = ("user_low", "user_high")
    readonly_fields = ("id", "user_low", "user_high", "last_seq", "last_message", "created_at", "updated_at")
    inlines = (ChatMemberInline,)
    actions = ("broadcast_to_members",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # chats are created by users through the API

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
