"""bin/backup and bin/restore against a real PostgreSQL, in a scratch database.

The server is the one of DATABASE_URL when it is a postgres:// URL (else
postgres://postgres@127.0.0.1:5432); the scratch database has a unique name
and is always dropped. Django's test database is not used.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql

ROOT = Path(__file__).resolve().parents[2]
BACKUP = ROOT / "bin" / "backup"
RESTORE = ROOT / "bin" / "restore"
DEFAULT_SERVER = "postgres://postgres@127.0.0.1:5432/postgres"

pytestmark = pytest.mark.skipif(
    not (shutil.which("pg_dump") and shutil.which("pg_restore")), reason="pg_dump/pg_restore not installed"
)


def _server_url() -> str:
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        url = DEFAULT_SERVER
    return url


def _with_db(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", "", ""))


def _run(script: Path, *args: str, database_url: str | None, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "BACKUP_DIR", "BACKUP_KEEP_DAYS")}
    if database_url is not None:
        environ["DATABASE_URL"] = database_url
    environ.update(env)
    return subprocess.run([str(script), *args], env=environ, capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture
def scratch_db() -> Iterator[str]:
    """A new database with a ``notes`` table of three rows; dropped afterwards whatever happens."""
    maintenance = _with_db(_server_url(), "postgres")
    name = f"neonchat_ops_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(maintenance, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as error:
        pytest.skip(f"PostgreSQL not reachable at {maintenance}: {error}")
    try:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        url = _with_db(maintenance, name)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE notes (id integer PRIMARY KEY, body text NOT NULL)")
            conn.execute("INSERT INTO notes VALUES (1, 'one'), (2, 'two'), (3, 'три')")
        yield url
    finally:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        admin.close()


def _rows(url: str) -> list[tuple[int, str]]:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT id, body FROM notes ORDER BY id").fetchall()


EXPECTED = [(1, "one"), (2, "two"), (3, "три")]


def test_backup_then_restore_brings_back_deleted_rows_and_dropped_table(scratch_db: str, tmp_path: Path) -> None:
    dump = tmp_path / "nested" / "neonchat.dump"
    result = _run(BACKUP, str(dump), database_url=scratch_db)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(dump)
    assert dump.stat().st_size > 0
    assert not list(dump.parent.glob("*.partial.*"))

    with psycopg.connect(scratch_db, autocommit=True) as conn:
        conn.execute("DELETE FROM notes WHERE id = 2")
        conn.execute("INSERT INTO notes VALUES (4, 'after the backup')")
    result = _run(RESTORE, str(dump), database_url=scratch_db)
    assert result.returncode == 0, result.stderr
    assert _rows(scratch_db) == EXPECTED

    with psycopg.connect(scratch_db, autocommit=True) as conn:
        conn.execute("DROP TABLE notes")
    result = _run(RESTORE, str(dump), database_url=scratch_db)
    assert result.returncode == 0, result.stderr
    assert _rows(scratch_db) == EXPECTED


def test_backup_default_path_is_timestamped_under_backup_dir(scratch_db: str, tmp_path: Path) -> None:
    result = _run(BACKUP, database_url=scratch_db, BACKUP_DIR=str(tmp_path))
    assert result.returncode == 0, result.stderr
    written = Path(result.stdout.strip())
    assert written.parent == tmp_path
    assert written.name.startswith("neonchat-")
    assert written.suffix == ".dump"
    assert written.is_file()
    assert (written.stat().st_mode & 0o077) == 0  # not readable by others: it holds password hashes


def test_clear_errors(tmp_path: Path) -> None:
    result = _run(BACKUP, str(tmp_path / "x.dump"), database_url=None)
    assert result.returncode != 0
    assert "DATABASE_URL is not set" in result.stderr

    result = _run(BACKUP, str(tmp_path / "x.dump"), database_url="mysql://root@localhost/db")
    assert result.returncode != 0
    assert "postgres:// URL" in result.stderr

    result = _run(RESTORE, str(tmp_path / "missing.dump"), database_url=DEFAULT_SERVER)
    assert result.returncode != 0
    assert "no such file" in result.stderr

    junk = tmp_path / "junk.dump"
    junk.write_text("not a dump")
    result = _run(RESTORE, str(junk), database_url=DEFAULT_SERVER)
    assert result.returncode != 0
    assert "not a pg_dump custom-format archive" in result.stderr

    result = _run(RESTORE, database_url=DEFAULT_SERVER)
    assert result.returncode != 0
    assert "usage" in result.stderr


def test_backup_of_unreachable_database_fails_without_leaving_a_file(tmp_path: Path) -> None:
    missing = _with_db(_server_url(), f"neonchat_ops_missing_{uuid.uuid4().hex[:8]}")
    dump = tmp_path / "x.dump"
    result = _run(BACKUP, str(dump), database_url=missing)
    assert result.returncode != 0
    assert "pg_dump failed" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_failed_restore_changes_nothing(scratch_db: str, tmp_path: Path) -> None:
    dump = tmp_path / "n.dump"
    assert _run(BACKUP, str(dump), database_url=scratch_db).returncode == 0
    with psycopg.connect(scratch_db, autocommit=True) as conn:
        conn.execute("DELETE FROM notes WHERE id = 1")
        # A view depending on the table makes DROP TABLE (from --clean) fail.
        conn.execute("CREATE VIEW notes_view AS SELECT * FROM notes")
    result = _run(RESTORE, str(dump), database_url=scratch_db)
    assert result.returncode != 0
    assert "rolled back" in result.stderr
    assert _rows(scratch_db) == EXPECTED[1:]
