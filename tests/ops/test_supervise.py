"""The supervision of make stack / make cluster (deploy/supervise/): the log
listener's protocol and prefixing, and supervisord's policy as configured by
supervise.sh, on trivial programs: a crash loop ends FATAL (reported, not
spinning) while the others run on; SIGTERM stops everything and exits 0."""

from __future__ import annotations

import io
import re
import signal
import subprocess
import time
from pathlib import Path

from deploy.supervise.logprefix import Prefixer, serve
from deploy.supervise.ready import wait

ROOT = Path(__file__).resolve().parents[2]


def test_output_chunks_become_whole_prefixed_lines_per_process() -> None:
    out = io.BytesIO()
    prefixer = Prefixer(out, width=8)
    header = b"processname:%s groupname:front pid:1 channel:stdout\n"
    prefixer.handle("PROCESS_LOG_STDOUT", header % b"api" + b"first line\nsecond ha")
    prefixer.handle("PROCESS_LOG_STDOUT", header % b"gateway" + b"gw line\r\n")
    prefixer.handle("PROCESS_LOG_STDOUT", header % b"api" + b"lf\n")
    prefixer.handle("PROCESS_LOG_STDOUT", header % b"api" + b"no newline at exit")
    prefixer.handle("PROCESS_STATE_EXITED", b"processname:api groupname:front from_state:RUNNING expected:0 pid:1")
    assert out.getvalue().decode().splitlines() == [
        "api      | first line",
        "gateway  | gw line",
        "api      | second half",
        "api      | no newline at exit",
    ]


def test_fatal_is_reported_with_the_command_that_starts_it_again() -> None:
    out = io.BytesIO()
    Prefixer(out, width=3, conf="/run/x.conf").handle(
        "PROCESS_STATE_FATAL", b"processname:api groupname:front from_state:BACKOFF"
    )
    line = out.getvalue().decode()
    assert line.startswith("api | FATAL: front:api keeps exiting right after it starts")
    assert "supervisorctl -c /run/x.conf start front:api" in line


def test_listener_protocol_ready_event_result() -> None:
    payload = b"processname:notifier groupname:notifier pid:7 channel:stdout\nhello\n"
    header = (
        f"ver:3.0 server:supervisor serial:1 pool:logs poolserial:1 eventname:PROCESS_LOG_STDOUT len:{len(payload)}\n"
    )
    stdin, stdout, stderr = io.BytesIO(header.encode() + payload), io.BytesIO(), io.BytesIO()
    serve(stdin, stdout, Prefixer(stderr, width=8))
    assert stdout.getvalue() == b"READY\nRESULT 2\nOKREADY\n"
    assert stderr.getvalue() == b"notifier | hello\n"


def test_ready_waits_for_listeners_and_names_the_missing_ones() -> None:
    assert wait([], timeout=0.1) == []
    assert wait(["127.0.0.1:1"], timeout=0.2) == ["127.0.0.1:1"]


def test_a_crash_loop_ends_fatal_without_spinning_and_sigterm_exits_0(tmp_path: Path) -> None:
    script = tmp_path / "demo"
    script.write_text(
        f"""set -euo pipefail
cd {ROOT}
. deploy/supervise/supervise.sh
sv_begin demo
sv_program boom startsecs=1 -- sh -c 'echo "cannot start: port taken"; exit 3'
sv_program steady -- sh -c 'echo "steady and well"; exec sleep 600'
sv_banner "" "demo: up"
sv_run
"""
    )
    out = tmp_path / "out"
    runner = subprocess.Popen(
        ["bash", str(script)],
        env={"PATH": "/usr/bin:/bin", "RUN_DIR": str(tmp_path / "run")},
        stdout=out.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while "FATAL" not in out.read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1.5)  # it would have been started again by now if it were spinning
        text = out.read_text()
        log = (tmp_path / "run" / "supervisord.log").read_text()
        assert re.search(r"^boom +\| FATAL: boom keeps exiting right after it starts", text, re.M), text
        assert re.search(r"^boom +\| cannot start: port taken$", text, re.M), text
        assert re.search(r"^steady +\| steady and well$", text, re.M), text
        assert "demo: up" in text
        assert log.count("spawned: 'boom'") == 4, log  # the first start and 3 retries, with 1, 2, 3 s between
        assert "gave up: boom entered FATAL state" in log
        status = subprocess.run(
            [str(ROOT / ".venv/bin/supervisorctl"), "-c", str(tmp_path / "run" / "supervisord.conf"), "status"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        assert re.search(r"^boom +FATAL", status, re.M) and re.search(r"^steady +RUNNING", status, re.M), status
        runner.send_signal(signal.SIGTERM)
        assert runner.wait(30) == 0
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait(10)
    assert "stopped: steady" in (tmp_path / "run" / "supervisord.log").read_text()
