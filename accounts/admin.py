"""Moderation of users: search, ban (ends their sessions at once), unban."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts import services
from accounts.models import User
from neonchat.errors import ApplicationError


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    ordering = ("username",)
    list_display = ("username", "status", "is_staff", "last_seen_at", "created_at")
    list_filter = ("status", "is_staff", "is_superuser")
    search_fields = ("username", "email")
    readonly_fields = ("id", "created_at", "updated_at", "last_seen_at", "last_login")
    fieldsets = (
        (None, {"fields": ("id", "username", "password")}),
        ("Profile", {"fields": ("email", "avatar_url", "status")}),
        ("Permissions", {"fields": ("is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Dates", {"fields": ("last_login", "last_seen_at", "created_at", "updated_at")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("username", "password1", "password2")}),)
    actions = ("ban_users", "unban_users")

    @admin.action(description="Ban selected users (revokes their tokens, closes their WebSockets)")
    def ban_users(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        self._set_banned(request, queryset, banned=True)

    @admin.action(description="Lift the ban on selected users")
    def unban_users(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        self._set_banned(request, queryset, banned=False)

    def _set_banned(self, request: HttpRequest, queryset: QuerySet[User], *, banned: bool) -> None:
        done = 0
        for user in queryset:
            try:
                services.user_set_banned(user=user, banned=banned)
            except ApplicationError as error:  # e.g. Redis down: that user's change was rolled back
                self.message_user(request, f"{user.username}: {error.message}", messages.ERROR)
                continue
            done += 1
        self.message_user(request, f"{'Banned' if banned else 'Unbanned'} {done} user(s).", messages.SUCCESS)

    def delete_model(self, request: HttpRequest, obj: User) -> None:
        services.user_delete(user=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        for user in queryset:
            services.user_delete(user=user)

    def save_model(self, request: HttpRequest, obj: User, form: Any, change: bool) -> None:
        status_changed = change and "status" in form.changed_data
        super().save_model(request, obj, form, change)
        if status_changed:
            # Through the service either way: it keeps the token check's ban key in step.
            services.user_set_banned(user=obj, banned=obj.status == User.Status.BANNED)
