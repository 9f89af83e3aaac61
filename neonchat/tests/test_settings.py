"""The settings module refuses bad configuration with one line on stderr and exit code 2."""

from __future__ import annotations

import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from neonchat.config import ConfigError
from neonchat.settings import base
from neonchat.settings.base import _database

PYTHON = Path(settings.BASE_DIR) / ".venv" / "bin" / "python"
LOAD = "import django, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'neonchat.settings'; django.setup()"
GOOD_SECRET = "a-production-secret-that-is-long-enough-0123456789"


def load_settings(**overrides: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env.update(overrides)
    python = str(PYTHON) if PYTHON.exists() else sys.executable
    return subprocess.run(
        [python, "-c", LOAD], env=env, cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=60, check=False
    )


def assert_config_error(result: subprocess.CompletedProcess[str], variable: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert variable in lines[0]
    assert "Traceback" not in result.stderr


def test_bad_variable_stops_start_with_one_line() -> None:
    assert_config_error(load_settings(RATE_LIMIT_PER_MINUTE="abc"), "RATE_LIMIT_PER_MINUTE")


def test_production_without_jwt_secret_stops_start() -> None:
    result = load_settings(APP_ENV="production", JWT_SECRET="", ALLOWED_HOSTS="chat.example.com")
    assert_config_error(result, "JWT_SECRET")


def test_production_with_wildcard_hosts_stops_start() -> None:
    result = load_settings(APP_ENV="production", JWT_SECRET=GOOD_SECRET, ALLOWED_HOSTS="*")
    assert_config_error(result, "ALLOWED_HOSTS")


# The same checks in-process: the settings module run afresh, its globals returned.


@pytest.fixture
def load(monkeypatch: pytest.MonkeyPatch):
    def run(**overrides: str) -> dict:
        for name, value in overrides.items():
            monkeypatch.setenv(name, value)
        return runpy.run_path(base.__file__)

    return run


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("RATE_LIMIT_PER_MINUTE", "abc"),
        ("RATE_LIMIT_PER_MINUTE", "0"),
        ("LOGIN_RATE_LIMIT_PER_MINUTE", "-3"),
        ("WS_MESSAGES_PER_SECOND", "fast"),
        ("WS_MAX_CONNECTIONS_PER_USER", "0"),
        ("WS_MAX_CONNECTIONS_PER_USER", "many"),
        ("DEBUG", "perhaps"),
        ("GRPC_TIMEOUT", "soon"),
        ("WS_HEARTBEAT_INTERVAL", "0ms"),
        ("REDIS_URL", "http://localhost:6379"),
        ("DATABASE_URL", "mysql://u@h/db"),
        ("APP_ENV", "staging"),
        ("LOG_LEVEL", "loud"),
        ("PASSWORD_BCRYPT_ROUNDS", "99"),
        ("JWT_EXPIRE_HOURS", "0"),
    ],
)
def test_loader_names_the_bad_variable(load, variable: str, value: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        load(**{variable: value})


def test_database_is_pooled() -> None:
    assert _database("postgres://app@db:5432/neonchat", 7, 5)["OPTIONS"]["pool"]["max_size"] == 7


def test_non_postgres_database_url_is_refused() -> None:
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        _database("sqlite:///tmp/x.db", 5, 5)


def test_prepared_statements_can_be_turned_off_for_old_pgbouncers(load) -> None:
    assert load()["DATABASES"]["default"]["OPTIONS"]["prepare_threshold"] == 5
    assert load(DB_PREPARED_STATEMENTS="false")["DATABASES"]["default"]["OPTIONS"]["prepare_threshold"] is None


@pytest.mark.parametrize(
    "overrides",
    [
        {"JWT_SECRET": ""},
        {"JWT_SECRET": "too-short"},
        {"ALLOWED_HOSTS": "*"},
        {"ALLOWED_HOSTS": ""},
        {"ALLOWED_HOSTS": "chat.example.com,*"},
    ],
)
def test_loader_production_rules(load, overrides: dict) -> None:
    base = {"APP_ENV": "production", "JWT_SECRET": GOOD_SECRET, "ALLOWED_HOSTS": "chat.example.com"}
    with pytest.raises(ConfigError):
        load(**{**base, **overrides})


def test_loader_accepts_a_valid_production_configuration(load) -> None:
    cfg = load(APP_ENV="production", JWT_SECRET=GOOD_SECRET, ALLOWED_HOSTS="chat.example.com")
    assert cfg["PRODUCTION"] is True and cfg["JWT_SECRET"] == GOOD_SECRET
    assert cfg["ALLOWED_HOSTS"] == ["chat.example.com"]
    assert cfg["SECURE_SSL_REDIRECT"] is True


def test_loader_defaults(load, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "RATE_LIMIT_PER_MINUTE",
        "LOGIN_RATE_LIMIT_PER_MINUTE",
        "WS_MESSAGES_PER_SECOND",
        "WS_MAX_CONNECTIONS_PER_USER",
        "JWT_EXPIRE_HOURS",
    ):
        monkeypatch.delenv(name, raising=False)
    cfg = load(APP_ENV="development")
    assert cfg["RATE_LIMIT_PER_MINUTE"] == 100
    assert cfg["LOGIN_RATE_LIMIT_PER_MINUTE"] == 20
    assert cfg["WS_MESSAGES_PER_SECOND"] == 20
    assert cfg["WS_MAX_CONNECTIONS_PER_USER"] == 32
    assert cfg["JWT_EXPIRE_HOURS"] == 24


def test_without_jwt_secret_each_instance_generates_and_keeps_its_own(load, tmp_path: Path) -> None:
    """No usable built-in secret: one is made on first start beside the SQLite database, kept across restarts."""
    first = load(APP_ENV="development", JWT_SECRET="", SQLITE_PATH=str(tmp_path / "one" / "db.sqlite3"))["JWT_SECRET"]
    kept = tmp_path / "one" / "jwt-secret"
    assert kept.read_text().strip() == first and len(first) >= 43
    assert kept.stat().st_mode & 0o777 == 0o600
    assert load(SQLITE_PATH=str(tmp_path / "one" / "db.sqlite3"))["JWT_SECRET"] == first
    other = load(SQLITE_PATH=str(tmp_path / "two" / "db.sqlite3"))["JWT_SECRET"]
    assert other != first
    assert first != "embedded-development-secret-change-me-0123456789"


def test_an_unusable_secret_file_stops_start_naming_jwt_secret(load, tmp_path: Path) -> None:
    (tmp_path / "jwt-secret").write_text("short\n")
    with pytest.raises(ConfigError, match="JWT_SECRET"):
        load(APP_ENV="development", JWT_SECRET="", SQLITE_PATH=str(tmp_path / "db.sqlite3"))
    (tmp_path / "ro").mkdir(mode=0o500)
    if os.geteuid() != 0:  # root writes anywhere
        with pytest.raises(ConfigError, match="JWT_SECRET"):
            load(SQLITE_PATH=str(tmp_path / "ro" / "sub" / "db.sqlite3"))


def test_env_example_lists_every_setting_the_code_reads() -> None:
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    read: set[str] = set()
    for path in [*root.glob("*/settings/*.py"), *root.glob("*/*.py")]:
        if ".venv" not in path.parts and "bench" not in path.parts:
            read |= set(re.findall(r'env\.\w+\("([A-Z_]+)"', path.read_text()))
    example = (root / ".env.example").read_text()
    listed = set(re.findall(r"^#? ?([A-Z_]+)=", example, re.MULTILINE))
    assert read, "no settings found"
    assert read - listed == set()
