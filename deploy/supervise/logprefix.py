"""supervisord event listener: every process's output in the foreground, each
line prefixed with the process name, and a clear report when one gives up.

supervisord (see ``deploy/supervise/supervise.sh``) captures each program's
stdout and stderr and sends them here as ``PROCESS_LOG`` events; this listener
writes them to its stderr, which supervisord passes to its own stdout, i.e.
the terminal of ``make stack`` / ``make cluster``::

    api      | {"time": "...", "level": "INFO", "message": "..."}
    notifier | neonchat notifier listening on 127.0.0.1:8081

A process that keeps dying before it has stayed up ``startsecs`` is given up
(``FATAL``) instead of being restarted forever; that is reported here with the
process's log file and the command that starts it again.

The protocol is supervisord's (docs: "Event Listeners"): write ``READY``, read
one header line and ``len`` bytes of payload, answer ``RESULT 2\\nOK``. Bytes
are read from the binary streams, since ``len`` counts bytes.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from typing import BinaryIO

# A line longer than this without a newline is written in pieces.
MAX_PARTIAL = 64 * 1024


def parse_tokens(line: bytes) -> dict[str, str]:
    """``key:value key:value`` (a header line or a payload's first line) as a dict."""
    pairs = (token.split(":", 1) for token in line.decode("utf-8", "replace").split())
    return {pair[0]: pair[1] for pair in pairs if len(pair) == 2}


@dataclass
class Prefixer:
    """Turns chunks of process output into whole, prefixed lines."""

    out: BinaryIO
    width: int = 8
    conf: str = ""
    partial: dict[str, bytes] = field(default_factory=dict)

    def handle(self, event: str, payload: bytes) -> None:
        first, _, data = payload.partition(b"\n")
        headers = parse_tokens(first)
        name = headers.get("processname", "?")
        if event.startswith("PROCESS_LOG"):
            self.output(name, data)
        elif event.startswith("PROCESS_STATE"):
            self.flush(name)
            if event == "PROCESS_STATE_FATAL":
                self.fatal(name, headers.get("groupname", name))

    def output(self, name: str, data: bytes) -> None:
        pending = self.partial.pop(name, b"") + data
        *lines, rest = pending.split(b"\n")
        for line in lines:
            self.write(name, line)
        if len(rest) > MAX_PARTIAL:
            self.write(name, rest)
        elif rest:
            self.partial[name] = rest

    def flush(self, name: str) -> None:
        rest = self.partial.pop(name, b"")
        if rest:
            self.write(name, rest)

    def fatal(self, name: str, group: str) -> None:
        full = name if group == name else f"{group}:{name}"
        ctl = f".venv/bin/supervisorctl -c {self.conf} start {full}" if self.conf else f"supervisorctl start {full}"
        self.write(
            name,
            f"FATAL: {full} keeps exiting right after it starts; it will not be restarted again. "
            f"The lines above say why; after fixing it: {ctl}".encode(),
        )

    def write(self, name: str, line: bytes) -> None:
        self.out.write(name.ljust(self.width).encode() + b" | " + line.rstrip(b"\r") + b"\n")
        self.out.flush()


def serve(stdin: BinaryIO, stdout: BinaryIO, prefixer: Prefixer) -> None:
    """Run the listener protocol until supervisord closes stdin."""
    while True:
        stdout.write(b"READY\n")
        stdout.flush()
        header = stdin.readline()
        if not header:
            return
        headers = parse_tokens(header)
        payload = stdin.read(int(headers.get("len", "0")))
        prefixer.handle(headers.get("eventname", ""), payload)
        stdout.write(b"RESULT 2\nOK")
        stdout.flush()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--width", type=int, default=8, help="pad process names to this width")
    parser.add_argument("--conf", default="", help="the supervisord configuration (for the restart hint)")
    args = parser.parse_args(argv)
    serve(sys.stdin.buffer, sys.stdout.buffer, Prefixer(sys.stderr.buffer, args.width, args.conf))


if __name__ == "__main__":
    main()
