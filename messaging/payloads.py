"""The JSON shapes of messages, shared by REST, WebSocket frames and gRPC."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from messaging.models import Message


def iso(moment: datetime | str) -> str:
    """ISO-8601 UTC with ``Z``, the same form DRF renders (a string is taken as already in it)."""
    if isinstance(moment, str):
        return moment
    text = moment.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def message_payload(message: Message) -> dict[str, Any]:
    return message_fields(
        message_id=message.pk, chat_id=message.chat_id, sender_id=message.sender_id, text=message.text,
        seq=message.seq, created_at=message.created_at, updated_at=message.updated_at, deleted_at=message.deleted_at,
        kind=message.kind, event=message.event,
    )  # fmt: skip


def message_fields(
    *, message_id: Any, chat_id: Any, sender_id: Any, text: str, seq: int,
    created_at: datetime | str, updated_at: datetime | str, deleted_at: datetime | None,
    kind: str = "text", event: dict[str, Any] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """The message shape from its columns (a row of the send path), a model, or a signed gRPC request.
    ``kind`` "text" (``event`` null) or "event" (a group's membership change)."""
    return {
        "id": str(message_id),
        "chat_id": str(chat_id),
        "sender_id": str(sender_id),
        "text": "" if deleted_at else text,
        "seq": seq,
        "created_at": iso(created_at),
        "updated_at": iso(updated_at),
        "deleted": deleted_at is not None,
        "kind": kind,
        "event": event,
    }


def last_message_fields(
    *,
    message_id: Any,
    text: str,
    sender_id: Any,
    created_at: datetime,
    deleted_at: datetime | None,
    kind: str,
    event: dict[str, Any] | None,
) -> dict[str, Any]:
    """The chat list's ``last_message``, from the columns (a ``values()`` row) or a model; ``kind``
    and ``event`` as on every message, so a preview can tell "Bob added Carol" from an empty text."""
    return {
        "id": str(message_id),
        "text": "" if deleted_at else text,
        "sender_id": str(sender_id),
        "created_at": iso(created_at),
        "deleted": deleted_at is not None,
        "kind": kind,
        "event": event,
    }
