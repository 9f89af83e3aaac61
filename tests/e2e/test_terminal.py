"""``make run`` and ``make stack`` in a terminal, as a user runs them: Ctrl-C on
the terminal stops them gracefully and make exits 0 (not 130); every listener
binds the configured host; nothing is left listening afterwards."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from tests.e2e.conftest import _test_database_url
from tests.e2e.procs import ROOT, free_port
from tests.e2e.supervised import drop_database, runner_env, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

# Not 127.0.0.1: a listener left on the default would show. Linux routes all of 127/8 to loopback.
HOST = "127.0.0.2"


class Terminal:
    """``make -s TARGET`` as the foreground job of a terminal of its own (a pty)."""

    def __init__(self, target: str, env: dict[str, str]) -> None:
        master, slave = os.openpty()
        # setsid -c: a new session whose controlling terminal is the pty, make its foreground group.
        self.popen = subprocess.Popen(
            ["setsid", "-c", "make", "-s", target], cwd=ROOT, env=env, stdin=slave, stdout=slave, stderr=slave
        )
        os.close(slave)
        self.master = master
        self.chunks: list[bytes] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:  # the pty must be drained, or the processes block on their output
        while True:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:
                return
            if not chunk:
                return
            self.chunks.append(chunk)

    def output(self) -> str:
        return b"".join(self.chunks).decode(errors="replace")

    def ctrl_c(self) -> None:
        os.write(self.master, b"\x03")  # the line discipline signals the foreground process group

    def close(self) -> None:
        if self.master < 0:
            return
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGKILL)  # a failed test: whatever is left of the session
            self.popen.wait(10)
        os.close(self.master)
        self.master = -1


def _session_pids(sid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[3]) == sid:
                pids.append(int(entry.name))
    return pids


def _lingering(sid: int, timeout: float = 10) -> dict[int, str]:
    """The processes of session ``sid`` still there ``timeout`` s after its leader ended
    (a process exits a moment after its parent: the kernel reaps a killed one when it runs next),
    with their command lines."""
    deadline = time.monotonic() + timeout
    while (pids := _session_pids(sid)) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = {}
    for pid in pids:
        with contextlib.suppress(OSError):
            left[pid] = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    return left


def _listeners(pids: list[int]) -> set[tuple[str, int]]:
    """The (address, port) of every TCP socket in LISTEN state that one of ``pids`` holds."""
    inodes: set[str] = set()
    for pid in pids:
        with_fds = Path(f"/proc/{pid}/fd")
        try:
            links = [os.readlink(fd) for fd in with_fds.iterdir()]
        except OSError:
            continue
        inodes.update(m.group(1) for link in links if (m := re.fullmatch(r"socket:\[(\d+)\]", link)))
    found = set()
    for table, width in (("tcp", 8), ("tcp6", 32)):
        for row in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            fields = row.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                address, port = fields[1].split(":")
                raw = bytes.fromhex(address[:width])
                # /proc prints each 32-bit word in host (little-endian) order.
                words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
                family = socket.AF_INET if width == 8 else socket.AF_INET6
                ip = ipaddress.ip_address(socket.inet_ntop(family, words))
                if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:  # a dual-stack socket (gRPC's)
                    ip = ip.ipv4_mapped
                found.add((str(ip), int(port, 16)))
    return found


def _nothing_listens(ports: list[int]) -> bool:
    for port in ports:
        with socket.socket() as sock:
            if sock.connect_ex((HOST, port)) == 0:
                return False
    return True


def _stop_with_ctrl_c(term: Terminal, ports: list[int]) -> None:
    term.ctrl_c()
    assert term.popen.wait(60) == 0, term.output()[-3000:]
    assert "make: ***" not in term.output()
    left = _lingering(term.popen.pid)
    assert not left, left  # every process of the session is gone
    assert _nothing_listens(ports)


@pytest.fixture
def terminal() -> Iterator[list[Terminal]]:
    started: list[Terminal] = []
    yield started
    for term in started:
        term.close()


def test_make_run_ctrl_c_exits_0_and_it_listened_on_host_only(terminal: list[Terminal], tmp_path: Path) -> None:
    port = free_port()
    env = runner_env("", "", "unused", SQLITE_PATH=str(tmp_path / "run.sqlite3"), HOST=HOST, PORT=str(port))
    term = Terminal("run", env)
    terminal.append(term)
    wait_until(lambda: f"listening on http://{HOST}:{port}" in term.output(), 120, 0.2)
    wait_until(lambda: not _nothing_listens([port]), 30)
    assert _listeners(_session_pids(term.popen.pid)) == {(HOST, port)}
    _stop_with_ctrl_c(term, [port])


def test_make_stack_ctrl_c_exits_0_and_every_listener_is_on_host(
    terminal: list[Terminal], django_db_setup: Any, tmp_path: Path
) -> None:
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql" or not settings.REDIS_URL:
        pytest.skip("make stack needs DATABASE_URL (PostgreSQL) and REDIS_URL")
    api, gateway, notifier, metrics = free_port(), free_port(), free_port(), free_port()
    database_url = f"{_test_database_url()}_terminal"
    env = runner_env(
        database_url,
        settings.REDIS_URL,
        f"neonchat-terminal-{uuid.uuid4().hex[:8]}",
        HOST=HOST,
        API_PORT=str(api),
        GATEWAY_PORT=str(gateway),
        NOTIFIER_LISTEN=f"{HOST}:{notifier}",  # NOTIFIER_ADDR follows it
        NOTIFIER_METRICS_PORT=str(metrics),
        RUN_DIR=str(tmp_path / "run"),
    )
    env.pop("NOTIFIER_ADDR", None)
    term = Terminal("stack", env)
    terminal.append(term)
    try:
        wait_until(lambda: "neonchat stack: api" in term.output() or term.popen.poll() is not None, 180, 0.2)
        assert term.popen.poll() is None, term.output()[-3000:]
        assert f"neonchat stack: api http://{HOST}:{api}" in term.output()
        listening = _listeners(_session_pids(term.popen.pid))
        assert {(HOST, api), (HOST, gateway), (HOST, notifier), (HOST, metrics)} <= listening
        assert {address for address, _ in listening} == {HOST}, listening
        _stop_with_ctrl_c(term, [api, gateway, notifier, metrics])
    finally:
        term.close()
        drop_database(database_url)
