"""Parsing client JSON (REST bodies, WebSocket frames) with a nesting limit.

Python's ``json`` recurses per level: a 2 KB body of 1,000 nested arrays
raised ``RecursionError`` (a 500) in DRF's parser. orjson stops at 1,024
levels with a ``JSONDecodeError``; no request of ours nests deeper than a
few levels, so anything past ``MAX_JSON_DEPTH`` is refused as malformed
before it reaches a serializer or a handler.
"""

from __future__ import annotations

from typing import Any

import orjson

MAX_JSON_DEPTH = 32


class JSONTooDeep(ValueError):
    """The document nests arrays/objects deeper than :data:`MAX_JSON_DEPTH`."""


def _depth_exceeds(value: Any, limit: int) -> bool:
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:  # iterative: no recursion, whatever the input
        node, depth = pending.pop()
        children = node.values() if isinstance(node, dict) else node
        for child in children:
            if isinstance(child, (dict, list)):
                if depth + 1 > limit:
                    return True
                pending.append((child, depth + 1))
    return False


def loads(raw: bytes | bytearray | memoryview | str) -> Any:
    """``orjson.loads`` (RFC 8259: no NaN, UTF-8) plus the depth limit.

    Raises ``orjson.JSONDecodeError`` or :class:`JSONTooDeep` (both ``ValueError``).
    """
    value = orjson.loads(raw)
    if isinstance(value, (dict, list)) and _depth_exceeds(value, MAX_JSON_DEPTH):
        raise JSONTooDeep(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    return value
