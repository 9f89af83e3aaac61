"""Query-parameter parsing shared by list endpoints (contract: clamp, 400 if not a number)."""

from __future__ import annotations

import uuid

from neonchat.errors import InvalidInput
from neonchat.ids import uuid_or_none


def parse_limit(raw: str | None, *, default: int, maximum: int) -> int:
    if raw is None or raw == "":
        return default
    value = _non_negative_int("limit", raw)
    if value == 0:
        raise InvalidInput("limit must be at least 1", code="invalid_limit", details={"limit": ["must be >= 1"]})
    return min(value, maximum)


def parse_offset(raw: str | None) -> int:
    if raw is None or raw == "":
        return 0
    return _non_negative_int("offset", raw)


def parse_bool(name: str, raw: str | None) -> bool:
    if raw is None or raw == "":
        return False
    value = raw.strip().lower()
    if value in {"1", "true", "yes"}:
        return True
    if value in {"0", "false", "no"}:
        return False
    raise InvalidInput(f"{name} must be true or false", code=f"invalid_{name}", details={name: ["not a boolean"]})


def parse_uuid(name: str, raw: str | None) -> uuid.UUID | None:
    if raw is None or raw == "":
        return None
    parsed = uuid_or_none(raw)
    if parsed is None:
        raise InvalidInput(f"{name} must be a UUID", code=f"invalid_{name}", details={name: ["not a UUID"]})
    return parsed


def _non_negative_int(name: str, raw: str) -> int:
    text = raw.strip()
    if not (text.isascii() and text.isdigit()):
        raise InvalidInput(
            f"{name} must be a non-negative integer",
            code=f"invalid_{name}",
            details={name: ["not a non-negative integer"]},
        )
    # Any size is a valid number; callers clamp it (limit) or get an empty page (offset).
    return int(text) if len(text) <= 9 else HUGE


HUGE = 10**9
