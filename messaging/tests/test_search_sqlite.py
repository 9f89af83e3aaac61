"""The search API tests again on SQLite with FTS5 (embedded mode's database).

The suite runs on PostgreSQL; this runs ``test_search_apis.py`` in a pytest
subprocess with the embedded settings (no ``DATABASE_URL``, no ``REDIS_URL``),
so both backends answer the same tests. Skipped when the suite itself already
runs on SQLite.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(connection.vendor == "sqlite", reason="the suite already runs on SQLite")
def test_search_api_tests_pass_on_sqlite(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "NOTIFIER_ADDR"}}
    env.update(APP_ENV="test", SQLITE_PATH=str(tmp_path / "neonchat.sqlite3"), PASSWORD_BCRYPT_ROUNDS="4")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--no-cov",
         "messaging/tests/test_search_apis.py"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "skipped" not in result.stdout, result.stdout[-2000:]
