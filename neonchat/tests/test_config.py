"""Configuration readers (django-environ with the project's rules): every bad value is a ConfigError naming the variable."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from neonchat import config
from neonchat.config import ConfigError

VAR = "NEONCHAT_TEST_VAR"


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch):
    def set_value(value: str | None) -> None:
        if value is None:
            monkeypatch.delenv(VAR, raising=False)
        else:
            monkeypatch.setenv(VAR, value)

    return set_value


def raises_naming_var(call) -> str:
    with pytest.raises(ConfigError) as error:
        call()
    assert VAR in str(error.value)
    assert "\n" not in str(error.value)
    return str(error.value)


@pytest.mark.parametrize(("raw", "expected"), [(None, 7), ("", 7), (" 12 ", 12), ("0", 0), ("+5", 5)])
def test_int_good(env, raw, expected) -> None:
    env(raw)
    assert config.env.int_in(VAR, 7) == expected


@pytest.mark.parametrize("raw", ["abc", "1.5", "12k", "-1", "101", "0x10"])
def test_int_bad(env, raw) -> None:
    env(raw)
    message = raises_naming_var(lambda: config.env.int_in(VAR, 7, minimum=0, maximum=100))
    assert raw.strip() in message or "between" in message


@pytest.mark.parametrize(("raw", "expected"), [("1", True), ("TRUE", True), ("on", True), ("no", False), ("0", False)])
def test_bool_good(env, raw, expected) -> None:
    env(raw)
    assert config.env.bool(VAR, default=False) is expected


@pytest.mark.parametrize("raw", ["maybe", "2", "y", "tru"])
def test_bool_bad(env, raw) -> None:
    env(raw)
    raises_naming_var(lambda: config.env.bool(VAR, default=False))


@pytest.mark.parametrize(
    ("raw", "expected"), [(None, 2.0), ("30", 30.0), ("30s", 30.0), ("500ms", 0.5), ("5m", 300.0), ("1h", 3600.0)]
)
def test_duration_good(env, raw, expected) -> None:
    env(raw)
    assert config.env.duration(VAR, 2.0) == pytest.approx(expected)


@pytest.mark.parametrize("raw", ["abc", "5x", "s", "ms", "-1s", "1d", "10 minutes"])
def test_duration_bad(env, raw) -> None:
    env(raw)
    raises_naming_var(lambda: config.env.duration(VAR, 2.0))


@pytest.mark.parametrize("raw", ["nan", "inf", "infs", "NaNms"])
def test_duration_rejects_non_finite(env, raw) -> None:
    env(raw)
    raises_naming_var(lambda: config.env.duration(VAR, 2.0))


@pytest.mark.parametrize("raw", ["redis://localhost:6379/0", "rediss://h:1/2", "unix:///tmp/redis.sock"])
def test_url_good(env, raw) -> None:
    env(raw)
    assert config.env.url_of(VAR, ("redis", "rediss", "unix")) == raw


@pytest.mark.parametrize("raw", ["localhost:6379", "http://localhost", "redis://", "just words"])
def test_url_bad(env, raw) -> None:
    env(raw)
    raises_naming_var(lambda: config.env.url_of(VAR, ("redis", "rediss", "unix")))


def test_url_empty_is_unset(env) -> None:
    env("  ")
    assert config.env.url_of(VAR, ("redis",)) == ""


def test_choice_and_list(env) -> None:
    env("Text")
    assert config.env.choice(VAR, "json", ("json", "text")) == "text"
    env("xml")
    raises_naming_var(lambda: config.env.choice(VAR, "json", ("json", "text")))
    env(" a, b ,,c ")
    assert config.env.list(VAR, cast=str.strip, default=["z"]) == ["a", "b", "c"]
    env(None)
    assert config.env.list(VAR, cast=str.strip, default=["z"]) == ["z"]


@given(st.integers(min_value=-(10**12), max_value=10**12))
def test_int_in_round_trips_any_integer_in_bounds(value: int) -> None:
    import os

    os.environ[VAR] = str(value)
    try:
        if 0 <= value <= 10**9:
            assert config.env.int_in(VAR, 1, minimum=0, maximum=10**9) == value
        else:
            with pytest.raises(ConfigError):
                config.env.int_in(VAR, 1, minimum=0, maximum=10**9)
    finally:
        del os.environ[VAR]


def test_read_dotenv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEONCHAT_DOTENV_SET", "from-env")
    monkeypatch.delenv("NEONCHAT_DOTENV_NEW", raising=False)
    monkeypatch.delenv("NEONCHAT_DOTENV_QUOTED", raising=False)
    path = tmp_path / ".env"
    path.write_text(
        "# comment\n\nNEONCHAT_DOTENV_SET=from-file\nexport NEONCHAT_DOTENV_NEW=new\nNEONCHAT_DOTENV_QUOTED='a b'\n",
        encoding="utf-8",
    )
    try:
        config.env.read_dotenv(path)
        import os

        assert os.environ["NEONCHAT_DOTENV_SET"] == "from-env"  # the environment wins
        assert os.environ["NEONCHAT_DOTENV_NEW"] == "new"
        assert os.environ["NEONCHAT_DOTENV_QUOTED"] == "a b"
    finally:
        monkeypatch.delenv("NEONCHAT_DOTENV_NEW", raising=False)
        monkeypatch.delenv("NEONCHAT_DOTENV_QUOTED", raising=False)
    bad = tmp_path / "bad.env"
    bad.write_text("GOOD=1\nthis is not an assignment\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad\.env: .*this is not an assignment"):
        config.env.read_dotenv(bad)
    config.env.read_dotenv(tmp_path / "missing.env")  # absent file: nothing happens


def test_read_dotenv_refuses_a_line_django_environ_would_skip(tmp_path: Path) -> None:
    """``KEY = value`` is no assignment to django-environ: skipped, a stack would start in embedded mode."""
    spaced = tmp_path / ".env"
    spaced.write_text("NEONCHAT_DOTENV_SPACED = postgres://u@db/x\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="NEONCHAT_DOTENV_SPACED"):
        config.env.read_dotenv(spaced)


def test_a_dollar_names_another_variable_unless_escaped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEONCHAT_TEST_OTHER", "12")
    monkeypatch.setenv(VAR, "$NEONCHAT_TEST_OTHER")
    assert config.env.int_in(VAR, 1) == 12
    monkeypatch.setenv(VAR, r"\$NEONCHAT_TEST_OTHER")
    assert config.env.str(VAR, default="") == "$NEONCHAT_TEST_OTHER"


def test_library_readers_name_the_variable(env) -> None:
    env("ture")
    raises_naming_var(lambda: config.env.bool(VAR, default=False))
    env("  ")
    assert config.env.bool(VAR, default=True) is True  # empty means unset
    assert config.env.int(VAR, default=3) == 3
    env("3.5")
    message = raises_naming_var(lambda: config.env.int(VAR, default=3))
    assert "integer" in message and "3.5" in message
    env(None)
    raises_naming_var(lambda: config.env.str(VAR))  # no default: required


def test_make_run_stays_embedded_when_dotenv_names_the_stack(tmp_path: Path) -> None:
    """The .env trap: ``make run``'s commands set the stack's variables to empty, and set values win over .env."""
    import os
    import shlex
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    dry_run = subprocess.run(["make", "-n", "run"], cwd=root, capture_output=True, text=True, check=True).stdout
    serve = next(line for line in dry_run.splitlines() if "manage.py serve" in line)
    prefix = shlex.split(serve.removeprefix("exec "))
    prefix = prefix[: next(i for i, arg in enumerate(prefix) if arg.endswith("python"))]  # up to $(PY)
    dotenv = tmp_path / ".env"
    dotenv.write_text("DATABASE_URL=postgres://u@db/x\nREDIS_URL=redis://r:6379/0\nNOTIFIER_ADDR=n:8081\n")
    probe = (
        "import os, sys; from pathlib import Path; from neonchat import config;"
        f"config.env.read_dotenv(Path({str(dotenv)!r}));"
        "print([config.env.str(k, default='unset') for k in ('DATABASE_URL', 'REDIS_URL', 'NOTIFIER_ADDR')])"
    )
    env = {**os.environ, "DATABASE_URL": "postgres://from-the-shell/x"}
    out = subprocess.run(
        [*prefix, sys.executable, "-c", probe], cwd=root, env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "['unset', 'unset', 'unset']", (prefix, out.stderr)
