"""Wait until processes listen, then print the runner's banner or start a program.

``python -m deploy.supervise.ready 127.0.0.1:8080,127.0.0.1:8082 "neonchat stack: ..."``
waits until each ``host:port`` accepts a TCP connection, then prints the lines
and exits 0 (a one-shot supervisord program). After ``--timeout`` seconds it
names what is not listening and exits 1 (supervisord's log and
``supervisorctl status`` tell why).

``... ready --exec ADDRESSES -- haproxy -db -f ...`` starts the program instead
once the addresses listen (or the timeout ran out): HAProxy then begins with
its backends up rather than reporting them all down.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import time


def listening(address: str) -> bool:
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=1):
            return True
    except OSError:
        return False


def wait(addresses: list[str], timeout: float, interval: float = 0.1) -> list[str]:
    """The addresses still not listening when ``timeout`` ran out (empty: all are)."""
    deadline = time.monotonic() + timeout
    waiting = list(addresses)
    while waiting:
        waiting = [address for address in waiting if not listening(address)]
        if not waiting or time.monotonic() >= deadline:
            break
        time.sleep(interval)
    return waiting


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="print a banner once every address listens")
    parser.add_argument("addresses", help="host:port,host:port,...")
    parser.add_argument("rest", nargs="+", metavar="LINE", help="lines to print (with --exec: the command)")
    parser.add_argument("--timeout", type=float, default=180.0)
    parser.add_argument("--exec", action="store_true", help="run the command once they listen")
    args = parser.parse_args(argv)
    missing = wait([a for a in args.addresses.split(",") if a], args.timeout)
    if missing:
        print(f"not listening after {args.timeout:.0f} s: {', '.join(missing)}", file=sys.stderr, flush=True)
    if args.exec:
        os.execvp(args.rest[0], args.rest)  # noqa: S606 - our own fixed command line
    if missing:
        return 1
    for line in args.rest:
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
