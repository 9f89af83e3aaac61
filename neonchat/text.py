"""What counts as visible text (message text must have some).

``str.strip()`` removes white space only: a message of zero-width spaces,
joiners, bidi marks or fillers passed as "not empty" and showed as nothing.
``VISIBLE_CHAR`` is also the OpenAPI pattern of message text, so it is written
to mean the same under ECMA-262 (the schema) and Python (the check).
"""

from __future__ import annotations

import re

# The longest message text (and system message), in characters: the contract's one limit.
TEXT_MAX = 4096

# Characters that render as nothing and that str.isspace() does not count: soft
# hyphen, combining grapheme joiner, Arabic letter mark, Hangul fillers, Mongolian
# selectors, zero-width space/joiners, LRM/RLM, bidi embeddings and isolates,
# word joiner and invisible operators, variation selectors, BOM.
INVISIBLE = (
    "\\u00ad\\u034f\\u061c\\u115f\\u1160\\u17b4\\u17b5\\u180b-\\u180f\\u200b-\\u200f"
    "\\u202a-\\u202e\\u2060-\\u206f\\u3164\\ufe00-\\ufe0f\\ufeff\\uffa0"
)
# One character that is neither white space (Python's str.isspace also counts
# \x1c-\x1f and \x85, which ECMA's \s does not) nor invisible.
VISIBLE_CHAR = f"[^\\s\\x1c-\\x1f\\x85{INVISIBLE}]"

_VISIBLE = re.compile(VISIBLE_CHAR)


def has_visible_text(text: str) -> bool:
    return _VISIBLE.search(text) is not None
