"""messaging.payloads is the one message shape: the OpenAPI serializers document exactly it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from chats.apis import LastMessageSerializer
from messaging.apis import MessageSerializer
from messaging.payloads import iso, last_message_fields, message_fields

NOW = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)


def test_the_documented_message_is_the_payload() -> None:
    ids = [uuid.uuid4() for _ in range(3)]
    payload = message_fields(
        message_id=ids[0], chat_id=ids[1], sender_id=ids[2], text="hi", seq=1,
        created_at=NOW, updated_at=NOW, deleted_at=None,
    )  # fmt: skip
    assert set(payload) == set(MessageSerializer().fields)
    last = last_message_fields(
        message_id=ids[0], text="hi", sender_id=ids[2], created_at=NOW, deleted_at=None, kind="text", event=None
    )
    assert set(last) == set(LastMessageSerializer().fields)


def test_timestamps_from_a_model_or_a_signed_request_are_the_same_text() -> None:
    assert iso(NOW) == "2026-01-02T03:04:05.678000Z" == iso(iso(NOW))
