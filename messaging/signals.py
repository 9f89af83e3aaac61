"""Domain events of messaging, sent after commit only, never before.

Each carries JSON-ready payloads (``messaging.payloads``) and the chat's
``member_ids``, so the realtime side never queries the database to fan out.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from django.dispatch import Signal

from neonchat.realtime import Here


class CommittedMessage(NamedTuple):
    message: dict[str, Any]
    member_ids: list[str]
    origin: str  # the sending connection's channel name, or "" (REST, admin)
    here: Here | None = None  # what the committing gateway delivered to its own connections


# kwargs: message (dict), member_ids (list[str]), origin (str) — one message, from sync code
message_committed = Signal()
# kwargs: messages (list[CommittedMessage]) — a group commit of the WebSocket send path, sent with ``asend``
messages_committed = Signal()
# kwargs: message (dict), member_ids (list[str])
message_updated = Signal()
# kwargs: chat_id, message_id (str), seq (int), member_ids (list[str])
message_deleted = Signal()
# kwargs: chat_id, user_id, message_id (str), seq (int), member_ids (list[str])
chat_read = Signal()
# kwargs: chat_id (str), member_ids (the members after the change), added, removed (list[str]) — a
# group's members or title changed: chat_created to ``added``, chat_removed to ``removed``,
# chat_updated to the other members
group_changed = Signal()
