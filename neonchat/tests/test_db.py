"""``fetch_rows``: fixed statements bound on the server, with the values Django's own cursor would give."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest
from django.db import connection
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from messaging.payloads import iso
from neonchat.db import fetch_rows, iso_text

pytestmark = pytest.mark.django_db

MOMENTS = "SELECT %(a)s::timestamptz AS a, %(b)s::timestamptz AS b, NULL::timestamptz AS c"
PARAMS = {"a": "2026-01-01 03:00:00.5+03", "b": "2026-05-01 00:00:00+00"}


def test_timestamps_are_the_aware_utc_datetimes_django_reads() -> None:
    names, rows = fetch_rows(MOMENTS, PARAMS)
    with connection.cursor() as cursor:
        cursor.execute(MOMENTS.replace("%(a)s", "%s").replace("%(b)s", "%s"), [PARAMS["a"], PARAMS["b"]])
        django_row = cursor.fetchone()
    assert names == ["a", "b", "c"] and rows == [django_row]
    a, b, c = rows[0]
    assert a.tzinfo is UTC and b.tzinfo is UTC and c is None
    assert [iso(a), iso(b)] == ["2026-01-01T00:00:00.500000Z", "2026-05-01T00:00:00Z"]
    assert orjson.dumps(a, option=orjson.OPT_UTC_Z) == b'"2026-01-01T00:00:00.500000Z"'


# Whole seconds (no fraction written) and every microsecond digit count.
EDGES = [
    datetime(2026, 5, 1, tzinfo=UTC),
    datetime(2026, 1, 1, 0, 0, 0, 500000, tzinfo=UTC),
    datetime(1999, 12, 31, 23, 59, 59, 1, tzinfo=UTC),
    datetime(2026, 7, 4, 12, 0, 0, 123456, tzinfo=UTC),
    datetime(2000, 2, 29, 0, 0, 0, 100, tzinfo=UTC),
]
TEXT = f"SELECT {iso_text('%(t)s::timestamptz')}, %(t)s::timestamptz"


@pytest.mark.parametrize("moment", EDGES)
def test_iso_text_writes_a_time_as_the_payloads_do(moment: datetime) -> None:
    [(text, read)] = fetch_rows(TEXT, {"t": moment})[1]
    assert text == iso(read) == iso(moment)


@hsettings(derandomize=True, database=None, max_examples=200, deadline=None)
@given(st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)))
def test_iso_text_agrees_with_iso_on_any_time(moment: datetime) -> None:
    [(text, _)] = fetch_rows(TEXT, {"t": moment})[1]
    assert text == iso(moment)


def test_iso_text_keeps_null() -> None:
    assert fetch_rows(f"SELECT {iso_text('NULL::timestamptz')}", {})[1] == [(None,)]
