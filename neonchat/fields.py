"""Serializer fields that take JSON strings only (DRF's coerce numbers to str / UUID(int=...))."""

from __future__ import annotations

import uuid
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from neonchat.text import TEXT_MAX, VISIBLE_CHAR


class StrictCharField(serializers.CharField):
    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictUUIDField(serializers.UUIDField):
    def to_internal_value(self, data: Any) -> uuid.UUID:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


# At least one character that is neither white space nor invisible (neonchat.text).
@extend_schema_field({"type": "string", "minLength": 1, "maxLength": TEXT_MAX, "pattern": VISIBLE_CHAR})
class MessageTextField(StrictCharField):
    """Message text: 1-TEXT_MAX characters, some of them visible (checked by the service)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", TEXT_MAX)
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)


@extend_schema_field({"type": "string", "minLength": 3, "maxLength": 50, "pattern": "^[A-Za-z0-9_.-]+$"})
class UsernameField(StrictCharField):
    """A username as the schema states it; the service enforces the same rule."""
