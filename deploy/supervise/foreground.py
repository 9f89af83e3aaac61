"""Run a command as the terminal's foreground job, so Ctrl-C reaches it and not make.

``python -m deploy.supervise.foreground COMMAND [ARG ...]`` (the Makefile's
``run``, ``stack`` and ``cluster``).

A terminal sends Ctrl-C's SIGINT to its whole foreground process group: make
and the server alike. The server stops gracefully and exits 0, but GNU make,
once its recipe has ended, re-raises the SIGINT on itself, so ``make stack``
ended with status 130 after a clean stop. Here the command runs in a process
group of its own that is given the terminal: Ctrl-C goes to it alone, make
sees its exit status (0 after a graceful stop) and passes it on. When it ends,
the terminal goes back to the group it came from. SIGTERM or SIGHUP sent to
this process (make forwards SIGTERM to its recipe) is passed to the command,
and so is a SIGINT sent to make's group by other means than the terminal
(``kill -INT -PGID``): the command still stops gracefully, but make then
exits 130 as it always does when it receives SIGINT itself.

Without a controlling terminal, or when not in its foreground group, the
command simply replaces this process: nothing changes.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Iterator
from types import FrameType


@contextlib.contextmanager
def _ttou_ignored() -> Iterator[None]:
    # A process outside the foreground group that changes the terminal's group gets SIGTTOU (a stop).
    previous = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGTTOU, previous)


def _foreground_terminal() -> int | None:
    """The controlling terminal's descriptor when this process's group holds it, else ``None``."""
    try:
        tty = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)
    except OSError:
        return None
    try:
        if os.tcgetpgrp(tty) == os.getpgrp():
            return tty
    except OSError:
        pass
    os.close(tty)
    return None


def _start(command: list[str], tty: int) -> int:
    child = os.fork()
    if child == 0:
        os.setpgid(0, 0)
        with _ttou_ignored():
            os.tcsetpgrp(tty, os.getpgrp())
        os.close(tty)
        try:
            os.execvp(command[0], command)  # noqa: S606 - the command is the Makefile's own
        finally:
            os._exit(127)
    with contextlib.suppress(OSError):  # either side may set it first
        os.setpgid(child, child)
    return child


def run(command: list[str]) -> int:
    tty = _foreground_terminal()
    if tty is None:
        os.execvp(command[0], command)  # noqa: S606 - the command is the Makefile's own
    child = _start(command, tty)

    def forward(sig: int, _frame: FrameType | None) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, sig)

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, forward)
    _, status = os.waitpid(child, 0)
    with _ttou_ignored(), contextlib.suppress(OSError):
        os.tcsetpgrp(tty, os.getpgrp())
    code = os.waitstatus_to_exitcode(status)
    return code if code >= 0 else 128 - code


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit("usage: python -m deploy.supervise.foreground COMMAND [ARG ...]")
    sys.exit(run(sys.argv[1:]))


if __name__ == "__main__":
    main()
