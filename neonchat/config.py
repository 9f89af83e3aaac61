"""Typed, validated configuration from environment variables.

Every reader raises :class:`ConfigError` naming the variable, so a bad value
stops the process at start with one clear line instead of failing later.
Variables already set in the environment win over a ``.env`` file.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from urllib.parse import urlsplit


class ConfigError(Exception):
    """A configuration value is missing or malformed."""


def load_dotenv(path: Path) -> None:
    """Read ``KEY=VALUE`` lines from ``path`` into ``os.environ`` (set values win)."""
    if not path.is_file():
        return
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        key, sep, value = line.partition("=")
        if not sep or not key.strip().isidentifier():
            raise ConfigError(f"{path.name} line {number}: expected KEY=VALUE")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        os.environ.setdefault(key.strip(), value)


def get_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def get_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be a boolean (true/false), got {raw!r}")


def get_int(name: str, default: int, *, minimum: int = 0, maximum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum or (maximum is not None and value > maximum):
        bounds = f">= {minimum}" if maximum is None else f"between {minimum} and {maximum}"
        raise ConfigError(f"{name} must be {bounds}, got {value}")
    return value


_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def get_duration(name: str, default: float, *, minimum: float = 0.0) -> float:
    """Seconds from ``30``, ``30s``, ``500ms``, ``5m`` or ``1h``."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    text = raw.strip().lower()
    unit = next((u for u in ("ms", "s", "m", "h") if text.endswith(u)), "")
    number = text[: len(text) - len(unit)] if unit else text
    try:
        value = float(number) * _DURATION_UNITS.get(unit, 1.0)
    except ValueError:
        raise ConfigError(f"{name} must be a duration such as 30s or 500ms, got {raw!r}") from None
    if not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite duration such as 30s or 500ms, got {raw!r}")
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}s, got {raw!r}")
    return value


def get_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return list(default)
    return [item.strip() for item in raw.split(",") if item.strip()]


def get_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = get_str(name, default).lower()
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


def get_url(name: str, schemes: tuple[str, ...]) -> str:
    """An optional URL; empty means unset. The scheme must be one of ``schemes``."""
    value = get_str(name)
    if not value:
        return ""
    parts = urlsplit(value)
    if parts.scheme not in schemes or not (parts.hostname or parts.path):
        raise ConfigError(f"{name} must be a {'/'.join(schemes)} URL, got {value!r}")
    return value
