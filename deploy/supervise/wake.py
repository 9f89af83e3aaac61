"""Keep supervisord's main loop turning so that a dead process is started again at once.

supervisord waits in ``poll()`` for up to one second per loop and starts an
exited process again on the loop *after* the one that reaped it: with nothing
else happening, every restart waits a second (measured: 1.0 s between
"exited" and "spawned" in its log). Output on any child's pipe ends that wait,
so this program writes a byte every ``interval`` seconds (its output is
discarded: ``stdout_logfile=NONE``). Cost: a few system calls per tick.
"""

from __future__ import annotations

import os
import sys
import time


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    interval = float(args[0]) if args else 0.1
    while True:
        os.write(1, b".")
        time.sleep(interval)


if __name__ == "__main__":
    main()
