"""``fetch_rows``: fixed statements bound on the server, with the values Django's own cursor would give."""

from __future__ import annotations

from datetime import UTC

import orjson
import pytest
from django.db import connection

from messaging.payloads import iso
from neonchat.db import fetch_rows

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
