"""OpenAPI pieces shared by every app's views: the error shape and its statuses, a message's kind."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers

ErrorSerializer = inline_serializer(
    name="Error",
    fields={
        "error": inline_serializer(
            name="ErrorBody",
            fields={
                "code": serializers.CharField(help_text="Stable machine-readable code"),
                "message": serializers.CharField(),
                "details": serializers.DictField(),
            },
        )
    },
)


def message_kind_field() -> serializers.ChoiceField:
    """A message's ``kind``: on history pages, frames and the chat list's ``last_message``."""
    return serializers.ChoiceField(choices=["text", "event"], help_text="event: a group's membership or title change")


def message_event_field() -> serializers.DictField:
    return serializers.DictField(
        allow_null=True,
        help_text='{"type": "member_added|member_removed|member_left|title_changed|chat_created", '
        '"user_ids": [...], "title": "..."}; null for text messages',
    )


LIMIT_SCHEMA = {"type": "integer", "minimum": 1}
OFFSET_SCHEMA = {"type": "integer", "minimum": 0}

_DESCRIPTIONS = {
    400: "Invalid input",
    401: "Missing, invalid, expired or revoked token",
    403: "Forbidden",
    404: "Not found (or not yours)",
    409: "Conflict",
    413: "Body too large",
    429: "Rate limited (see Retry-After)",
    503: "A dependency is unavailable",
}


def error_responses(*statuses: int) -> dict[int, OpenApiResponse]:
    return {code: OpenApiResponse(ErrorSerializer, description=_DESCRIPTIONS[code]) for code in statuses}
