"""The short chaos run: every fault in turn under a small steady load (< 3 minutes).

Starts its own PostgreSQL and Redis (never the machine's), so it needs the
PostgreSQL 15 server binaries and ``redis-server``; skipped without them.
``python -m tests.chaos`` is the full run (see docs/reliability.md).
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from tests.chaos.infra import PG_BIN
from tests.chaos.runner import SHORT, run_all, scan_logs, table

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(420),
    pytest.mark.skipif(
        not (PG_BIN / "initdb").exists() or shutil.which("redis-server") is None,
        reason="needs PostgreSQL server binaries and redis-server",
    ),
]


def test_no_acknowledged_message_is_lost_or_duplicated_under_faults(tmp_path: Path) -> None:
    lines: list[str] = []
    results = asyncio.run(run_all(SHORT, tmp_path, lines.append))
    report = "\n".join([*lines, table(results)])
    print(report)
    assert [r.fault for r in results] == list(SHORT.faults), report
    for r in results:
        assert r.lost == 0, report
        assert r.duplicated == 0, report
        assert r.ready_s is not None and r.ready_s <= SHORT.ready_limit, report
        assert r.delivery_ok, report
    presence = [p for r in results for p in r.presence_problems]
    logs = {name: dict(counts.most_common(5)) for name, counts in scan_logs(tmp_path).items()}
    assert not presence, f"presence did not converge: {presence[:3]}; logs: {logs}"
