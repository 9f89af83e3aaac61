"""Typed, validated configuration from environment variables, read by django-environ.

:class:`Env` is ``environ.Env`` with the project's rules:

* an empty value means unset (``make run`` empties the stack's variables, and
  a set value wins over ``.env``);
* a value that does not parse raises :class:`ConfigError` naming the variable,
  so a bad value stops the process at start with one clear line (the library's
  ``ValueError`` and ``ImproperlyConfigured`` name neither);
* a boolean is one of a few words: django-environ reads any other word as false,
  so ``DEBUG=ture`` would pass unnoticed.

Its own readers add only what django-environ has no cast for: bounds, durations
with a unit, a fixed set of choices, a URL of given schemes.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured


class ConfigError(Exception):
    """A configuration value is missing or malformed."""


_BOOLEANS = {"1", "true", "yes", "on", "0", "false", "no", "off"}
_EXPECTED = {int: "an integer", float: "a number", bool: "a boolean (true/false)"}
# "ms" before "m" and "s": the first unit the text ends with wins.
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


class Env(environ.Env):  # type: ignore[misc]
    """``environ.Env`` whose errors name the variable; see the module docstring."""

    def __init__(self) -> None:
        super().__init__()
        # "$NAME" reads another variable (django-environ's proxy); "\$" is a literal dollar.
        self.escape_proxy = True

    def get_value(
        self, var: str, cast: Any = None, default: Any = environ.Env.NOTSET, parse_default: bool = False
    ) -> Any:
        raw = self.ENVIRON.get(var, "")
        if not raw.strip():
            if default is self.NOTSET:
                raise ConfigError(f"{var} must be set")
            return default
        try:
            return super().get_value(var, cast=cast, default=default, parse_default=parse_default)
        except (ValueError, ImproperlyConfigured):
            kind = cast if isinstance(cast, type) else type(default)
            raise ConfigError(f"{var} must be {_EXPECTED.get(kind, 'valid')}, got {raw!r}") from None

    @classmethod
    def parse_value(cls, value: Any, cast: Any) -> Any:
        if isinstance(value, str):
            value = value.strip()
            if cast is bool and value.lower() not in _BOOLEANS:
                raise ValueError(value)
        return super().parse_value(value, cast)

    @classmethod
    def read_dotenv(cls, path: Path) -> None:
        """``read_env`` (set values win), refusing a line it cannot read instead of
        skipping it: a mistyped ``DATABASE_URL = ...`` must not start the process
        in embedded mode. The library only logs such a line, hence the filter."""
        skipped: list[str] = []

        def refuse(record: logging.LogRecord) -> bool:
            if record.levelno < logging.WARNING:
                return True
            skipped.append(record.getMessage())
            return False

        logger = logging.getLogger(environ.environ.__name__)
        logger.addFilter(refuse)
        try:
            cls.read_env(path, overwrite=False)
        finally:
            logger.removeFilter(refuse)
        if skipped:
            raise ConfigError(f"{path.name}: {skipped[0]} (expected KEY=VALUE)")

    def int_in(self, var: str, default: int, *, minimum: int = 0, maximum: int | None = None) -> int:
        value: int = self.int(var, default=default)
        if value < minimum or (maximum is not None and value > maximum):
            bounds = f">= {minimum}" if maximum is None else f"between {minimum} and {maximum}"
            raise ConfigError(f"{var} must be {bounds}, got {value}")
        return value

    def duration(self, var: str, default: float, *, minimum: float = 0.0) -> float:
        """Seconds from ``30``, ``30s``, ``500ms``, ``5m`` or ``1h``."""
        text: str = self.str(var, default="").lower()
        if not text:
            return default
        unit = next((u for u in _DURATION_UNITS if text.endswith(u)), "")
        try:
            value = float(text.removesuffix(unit)) * _DURATION_UNITS.get(unit, 1.0)
        except ValueError:
            raise ConfigError(f"{var} must be a duration such as 30s or 500ms, got {text!r}") from None
        if not math.isfinite(value):
            raise ConfigError(f"{var} must be a finite duration such as 30s or 500ms, got {text!r}")
        if value < minimum:
            raise ConfigError(f"{var} must be at least {minimum}s, got {text!r}")
        return value

    def choice(self, var: str, default: str, choices: tuple[str, ...]) -> str:
        value: str = self.str(var, default=default).lower()
        if value not in choices:
            raise ConfigError(f"{var} must be one of {', '.join(choices)}, got {value!r}")
        return value

    def url_of(self, var: str, schemes: tuple[str, ...]) -> str:
        """An optional URL (empty: unset) whose scheme is one of ``schemes``, as written."""
        value: str = self.str(var, default="")
        if not value:
            return ""
        try:
            parts = urlsplit(value)
            usable = parts.scheme in schemes and bool(parts.hostname or parts.path)
        except ValueError:  # e.g. an unclosed IPv6 bracket
            usable = False
        if not usable:
            raise ConfigError(f"{var} must be a {'/'.join(schemes)} URL, got {value!r}")
        return value


env = Env()
