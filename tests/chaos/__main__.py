"""``python -m tests.chaos``: the full chaos run; prints the per-fault table.

Exit status 1 if any fault lost or duplicated a message or failed another check.
Options: ``--short`` (the pytest-sized run), ``--cluster`` (against ``make cluster``
under supervisord, one instance of each role killed in turn), ``--users``, ``--rate``,
``--after``, ``--faults gateway-kill,pg-restart``, ``--log-dir``.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import signal
import sys
import tempfile
import time
from pathlib import Path

from tests.chaos.runner import CLUSTER, CLUSTER_SHORT, FAULTS, SHORT, Config, run_all, scan_logs, table


def _sigterm(signum: int, frame: object) -> None:
    # Stop like Ctrl-C (asyncio.run cancels the run cleanly): our PostgreSQL, Redis and processes go away.
    signal.raise_signal(signal.SIGINT)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos", description=__doc__.splitlines()[0])
    parser.add_argument("--short", action="store_true", help="small load, short phases (what the pytest test runs)")
    parser.add_argument("--cluster", action="store_true", help="make cluster under supervisord, through HAProxy")
    parser.add_argument("--users", type=int)
    parser.add_argument("--rate", type=float, help="total messages per second")
    parser.add_argument("--warmup", type=float)
    parser.add_argument("--after", type=float, help="seconds of load after recovery")
    parser.add_argument("--faults", help=f"comma-separated subset of {','.join(FAULTS)}")
    parser.add_argument("--log-dir", type=Path)
    args = parser.parse_args(argv)
    presets = {(False, False): Config(), (False, True): SHORT, (True, False): CLUSTER, (True, True): CLUSTER_SHORT}
    cfg = presets[(args.cluster, args.short)]
    changes = {k: getattr(args, k) for k in ("users", "rate", "warmup", "after") if getattr(args, k) is not None}
    if args.faults:
        unknown = set(args.faults.split(",")) - set(FAULTS)
        if unknown:
            parser.error(f"unknown faults: {', '.join(sorted(unknown))}")
        changes["faults"] = tuple(args.faults.split(","))
    cfg = dataclasses.replace(cfg, **changes)
    log_dir = args.log_dir or Path(tempfile.mkdtemp(prefix="neonchat-chaos-logs-"))
    signal.signal(signal.SIGTERM, _sigterm)
    started = time.monotonic()
    results = asyncio.run(run_all(cfg, log_dir, lambda line: print(line, flush=True), cluster=args.cluster))
    print()
    print(
        f"chaos{' (make cluster)' if args.cluster else ''}: {cfg.users} users, {cfg.rate:.0f} msg/s, {len(results)} faults in {time.monotonic() - started:.0f}s"
    )
    print(table(results))
    print(f"\nserver logs ({log_dir}): warnings, errors and exceptions")
    for name, counts in scan_logs(log_dir).items():
        for line, count in counts.most_common(12):
            print(f"  {name}: {count}x {line}")
    bad = [r for r in results if not r.ok]
    for r in bad:
        print(f"\n{r.fault}: {len(r.problems) + len(r.presence_problems)} problem(s)")
        for problem in (r.problems + r.presence_problems)[:20]:
            print(f"  - {problem}")
    print("\nchaos: " + ("FAILED" if bad else "all faults recovered with no loss and no duplicate"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
