"""Proof that a ``SendMessageRequest`` describes a message our own service stored.

The api and gateway sign what they send (HMAC-SHA256 with a key derived from
``SECRET_KEY``, shared by every process of a deployment). The notifier
delivers a signed request as it is; an unsigned one (any other gRPC client)
only by reading the stored message, so nobody can push words into a chat
that were never stored.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

from django.conf import settings

METADATA_KEY = "signature"


@cache
def _key() -> bytes:
    return hashlib.sha256(b"neonchat-notifier:" + settings.SECRET_KEY.encode()).digest()


def _canonical(message: Mapping[str, Any], recipients: Sequence[str]) -> bytes:
    # Fixed-format fields first, the free text last: the encoding is unambiguous.
    fields = [
        *(message[k] for k in ("id", "chat_id", "sender_id", "seq", "created_at", "updated_at")),
        message.get("kind", "text"),
    ]
    head = "|".join([*map(str, fields), ",".join(recipients)])
    return f"{head}|{event_json(message)}|{message['text']}".encode("utf-8", "surrogatepass")


def event_json(message: Mapping[str, Any]) -> str:
    """An event message's details as they travel (``SendMessageRequest.event_json``); "" for text."""
    event = message.get("event")
    return "" if event is None else json.dumps(event, sort_keys=True, separators=(",", ":"))


def sign(message: Mapping[str, Any], recipients: Sequence[str]) -> str:
    return hmac.new(_key(), _canonical(message, recipients), hashlib.sha256).hexdigest()


def valid(signature: str, message: Mapping[str, Any], recipients: Sequence[str]) -> bool:
    return bool(signature) and hmac.compare_digest(signature, sign(message, recipients))
