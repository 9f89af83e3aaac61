"""The user account: the spec's ``users`` table on Django's auth machinery."""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.core.validators import MinLengthValidator, RegexValidator
from django.db import models
from django.db.models.functions import Lower

# `username__lower=...` compiles to LOWER(username) = ..., which the
# case-insensitive unique index below serves.
models.CharField.register_lookup(Lower)

USERNAME_PATTERN = r"^[A-Za-z0-9_.-]+$"
USERNAME_MIN = 3
USERNAME_MAX = 50


class UserManager(BaseUserManager["User"]):
    def get_by_natural_key(self, username: str | None) -> User:
        # Usernames are unique case-insensitively, so login is too.
        return self.get(username__lower=(username or "").lower())

    def create_user(self, username: str, password: str | None = None, **extra: Any) -> User:
        user = self.model(username=username, **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, username: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self.create_user(username, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    class Status(models.TextChoices):
        ACTIVE = "active"
        BANNED = "banned"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    username = models.CharField(
        max_length=USERNAME_MAX,
        validators=[MinLengthValidator(USERNAME_MIN), RegexValidator(USERNAME_PATTERN)],
        help_text="3-50 characters: letters, digits, _ . -",
    )
    password = models.CharField(max_length=256, db_column="password_hash")
    email = models.EmailField(max_length=255, unique=True, null=True, blank=True)
    avatar_url = models.TextField(blank=True, default="")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE, db_index=True)
    is_staff = models.BooleanField(default=False)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects: ClassVar[UserManager] = UserManager()  # type: ignore[assignment]

    USERNAME_FIELD = "username"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        db_table = "users"
        constraints: ClassVar = [
            models.UniqueConstraint(Lower("username"), name="users_username_ci_unique"),
        ]
        indexes: ClassVar = [models.Index(fields=["username"], name="idx_users_username")]

    def __str__(self) -> str:
        return self.username

    @property
    def is_active(self) -> bool:  # type: ignore[override]
        """A banned user cannot log in and their tokens stop working."""
        return self.status == self.Status.ACTIVE


class RevokedToken(models.Model):
    """A logged-out access token, in embedded mode (stack mode keeps revocations in Redis).

    Embedded mode's key-value store lives in the process, so a revocation kept
    there would end with it and the token would work again after a restart;
    this table keeps it with the SQLite database until the token expires.
    """

    jti = models.CharField(max_length=255, primary_key=True)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        db_table = "revoked_tokens"

    def __str__(self) -> str:
        return self.jti
