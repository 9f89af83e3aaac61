"""Ids as clients send them: the one place a string becomes a UUID.

Each transport maps a bad id to its own error (a 400 field error, a WebSocket
``invalid_field`` frame, a gRPC ``INVALID_ARGUMENT``, a 404 that does not leak
existence); what counts as a UUID is decided here only.
"""

from __future__ import annotations

import uuid


def uuid_or_none(value: object) -> uuid.UUID | None:
    """``value`` as a UUID (any form ``uuid.UUID`` reads), or ``None`` if it is not a UUID string."""
    if isinstance(value, uuid.UUID):
        return value
    if not isinstance(value, str):
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        return None
