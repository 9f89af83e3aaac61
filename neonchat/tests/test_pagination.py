"""Query-parameter parsing: clamp to the maximum, 400 for anything not a non-negative integer."""

from __future__ import annotations

import contextlib
import uuid

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from neonchat.errors import InvalidInput
from neonchat.pagination import parse_bool, parse_limit, parse_offset, parse_uuid


@pytest.mark.parametrize(
    ("raw", "expected"), [(None, 20), ("", 20), ("1", 1), ("20", 20), ("100", 100), ("101", 100), ("999999999", 100)]
)
def test_parse_limit(raw: str | None, expected: int) -> None:
    assert parse_limit(raw, default=20, maximum=100) == expected


@pytest.mark.parametrize("raw", ["0", "-1", "abc", "1.0", "1e2", "0x10", " "])
def test_parse_limit_rejects(raw: str) -> None:
    with pytest.raises(InvalidInput) as error:
        parse_limit(raw, default=20, maximum=100)
    assert error.value.code == "invalid_limit"
    assert error.value.status == 400


@given(st.integers(min_value=1, max_value=10**9 - 1))
def test_parse_limit_clamps_every_positive_integer(value: int) -> None:
    assert parse_limit(str(value), default=50, maximum=200) == min(value, 200)


@hsettings(derandomize=True, database=None, max_examples=300)
@given(st.text(alphabet=st.characters(categories=("Nd", "No", "Zs", "Pd")) | st.sampled_from("0123456789"), max_size=6))
def test_parse_limit_never_crashes(raw: str) -> None:
    """Anything a client can put in the query string is a limit or a 400, never a 500."""
    try:
        value = parse_limit(raw, default=20, maximum=100)
    except InvalidInput:
        return
    assert 1 <= value <= 100


@pytest.mark.parametrize("raw", ["²", "1²", "①", "⁵"])
def test_parse_limit_rejects_non_ascii_digits(raw: str) -> None:
    with pytest.raises(InvalidInput):
        parse_limit(raw, default=20, maximum=100)


def test_parse_limit_accepts_or_rejects_other_unicode_digits_cleanly() -> None:
    for raw in ("\uff11\uff10", "\u0663"):  # fullwidth "10", Arabic-Indic 3: decimal digits int() understands
        with contextlib.suppress(InvalidInput):
            assert 1 <= parse_limit(raw, default=20, maximum=100) <= 100


def test_parse_offset() -> None:
    assert parse_offset(None) == 0
    assert parse_offset("0") == 0
    assert parse_offset("12345") == 12345
    with pytest.raises(InvalidInput):
        parse_offset("-5")


@pytest.mark.parametrize(("raw", "expected"), [(None, False), ("", False), ("true", True), ("1", True), ("No", False)])
def test_parse_bool(raw: str | None, expected: bool) -> None:
    assert parse_bool("flag", raw) is expected


def test_parse_bool_rejects() -> None:
    with pytest.raises(InvalidInput) as error:
        parse_bool("flag", "2")
    assert error.value.code == "invalid_flag"


def test_parse_uuid() -> None:
    value = uuid.uuid4()
    assert parse_uuid("before_id", str(value)) == value
    assert parse_uuid("before_id", None) is None
    with pytest.raises(InvalidInput) as error:
        parse_uuid("before_id", "nope")
    assert error.value.code == "invalid_before_id"


def test_parse_limit_clamps_numbers_of_any_size() -> None:
    assert parse_limit("9999999999", default=20, maximum=100) == 100
    assert parse_limit("9" * 5000, default=20, maximum=100) == 100
