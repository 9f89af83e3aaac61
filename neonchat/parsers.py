"""The REST API's request parser (``DEFAULT_PARSER_CLASSES``)."""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions, parsers

from neonchat import jsonlimits


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser on :func:`neonchat.jsonlimits.loads`: deep nesting is a 400, never a 500."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            return jsonlimits.loads(stream.read())
        except ValueError as error:
            raise exceptions.ParseError(f"JSON parse error - {error}") from None
