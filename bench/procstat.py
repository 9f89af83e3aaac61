"""RSS and CPU of server processes from /proc (no psutil needed).

Processes are given as PIDs or found by the TCP port they listen on
(``/proc/net/tcp*`` inode -> ``/proc/<pid>/fd``). Linux only; elsewhere the
figures are simply missing from the report.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from dataclasses import dataclass, field
from typing import Any

CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _listen_inodes(port: int) -> set[str]:
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as fh:
            next(fh, None)
            for line in fh:
                parts = line.split()
                if len(parts) > 9 and parts[3] == "0A" and int(parts[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(parts[9])
    return inodes


def pid_listening_on(port: int) -> int | None:
    """The PID of the process listening on TCP ``port`` (needs permission to read its fds)."""
    wanted = {f"socket:[{inode}]" for inode in _listen_inodes(port)}
    if not wanted:
        return None
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fd_dir = f"/proc/{entry}/fd"
        try:
            for fd in os.listdir(fd_dir):
                with contextlib.suppress(OSError):
                    if os.readlink(f"{fd_dir}/{fd}") in wanted:
                        return int(entry)
        except OSError:
            continue
    return None


def cpu_seconds(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # fields[0] is state (field 3); utime/stime are fields 14/15 -> indexes 11/12
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_bytes(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/statm") as fh:
            return int(fh.read().split()[1]) * PAGE
    except OSError:
        return None


def cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode(errors="replace").strip()[:120]
    except OSError:
        return "?"


@dataclass
class ProcSample:
    name: str
    pid: int
    cpu_start: float | None = None
    wall_start: float = 0.0
    rss_start: int | None = None
    rss_max: int = 0
    cpu_pct: float | None = None
    cpu_pct_peak: float = 0.0
    rss_end: int | None = None
    alive: bool = True
    _last: tuple[float, float] | None = field(default=None, repr=False)

    def as_dict(self) -> dict[str, Any]:
        mib = 1024 * 1024
        return {
            "name": self.name,
            "pid": self.pid,
            "cmd": cmdline(self.pid),
            "alive": self.alive,
            "cpu_pct_mean": None if self.cpu_pct is None else round(self.cpu_pct, 1),
            "cpu_pct_peak_1s": round(self.cpu_pct_peak, 1),
            "rss_start_mib": None if self.rss_start is None else round(self.rss_start / mib, 1),
            "rss_end_mib": None if self.rss_end is None else round(self.rss_end / mib, 1),
            "rss_max_mib": round(self.rss_max / mib, 1),
        }


class ProcMonitor:
    """Samples each process once a second between :meth:`start` and :meth:`stop`."""

    def __init__(self, procs: dict[str, int]) -> None:
        self.samples = {name: ProcSample(name, pid) for name, pid in procs.items()}
        if "harness" not in self.samples:
            self.samples["harness"] = ProcSample("harness", os.getpid())
        self._task: asyncio.Task[None] | None = None

    def _sample(self) -> None:
        now = time.monotonic()
        for s in self.samples.values():
            cpu, rss = cpu_seconds(s.pid), rss_bytes(s.pid)
            if cpu is None or rss is None:
                s.alive = False
                continue
            s.rss_max = max(s.rss_max, rss)
            s.rss_end = rss
            if s._last is not None and now > s._last[0]:
                s.cpu_pct_peak = max(s.cpu_pct_peak, 100.0 * (cpu - s._last[1]) / (now - s._last[0]))
            s._last = (now, cpu)

    def start(self) -> None:
        now = time.monotonic()
        for s in self.samples.values():
            s.cpu_start, s.rss_start, s.wall_start = cpu_seconds(s.pid), rss_bytes(s.pid), now
        self._sample()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            self._sample()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._sample()
        now = time.monotonic()
        for s in self.samples.values():
            cpu = cpu_seconds(s.pid)
            if cpu is not None and s.cpu_start is not None and now > s.wall_start:
                s.cpu_pct = 100.0 * (cpu - s.cpu_start) / (now - s.wall_start)

    def report(self) -> list[dict[str, Any]]:
        return [s.as_dict() for s in self.samples.values()]


def resolve(pids: str | None, ports: str | None) -> dict[str, int]:
    """``--pids name=pid,...`` and ``--ports name=port,...`` -> {name: pid}."""
    found: dict[str, int] = {}
    for spec, by_port in ((pids, False), (ports, True)):
        for item in filter(None, (spec or "").split(",")):
            name, _, value = item.rpartition("=")
            name = name or value
            pid = pid_listening_on(int(value)) if by_port else int(value)
            if pid is not None:
                found[name] = pid
    return found
