"""The soak's verdict on memory, and a short soak on a private stack (``make soak`` is 30 minutes)."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from tests.chaos.infra import PG_BIN
from tests.chaos.soak import SoakConfig, Window, format_summary, judge_memory, run_soak

needs_servers = pytest.mark.skipif(
    not (PG_BIN / "initdb").exists() or shutil.which("redis-server") is None,
    reason="needs PostgreSQL server binaries and redis-server",
)


def _windows(gateway: list[float]) -> list[Window]:
    return [
        Window(t=10.0 * i, sent=10, acked=10, ack_p50_ms=1, ack_p95_ms=2, ack_max_ms=3, connected=2, reconnects=2,
               rss_mib={"notifier": 100, "api": 120, "gateway": rss}, cpu_pct={}, redis_used_mib=2.0)
        for i, rss in enumerate(gateway)
    ]  # fmt: skip


def test_memory_that_settles_after_warm_up_passes() -> None:
    # Warm-up growth (pools filling) is forgiven; afterwards only noise.
    rss = [100, 140, 150, 151, 150, 152, 151, 150, 151, 152]
    growth = {g.name: g for g in judge_memory(_windows(rss), SoakConfig(warmup_share=0.2))}
    assert all(g.ok for g in growth.values())
    assert growth["gateway"].start_mib >= 150 and growth["gateway"].growth_mib <= 2


def test_memory_that_keeps_growing_fails() -> None:
    rss = [150 + 5 * i for i in range(12)]  # +5 MiB per window, 45 MiB after warm-up
    growth = {g.name: g for g in judge_memory(_windows(rss), SoakConfig(warmup_share=0.2))}
    assert not growth["gateway"].ok
    assert growth["gateway"].slope_mib_per_hour == pytest.approx(5 * 360)
    assert growth["api"].ok and growth["redis"].ok


@needs_servers
@pytest.mark.e2e
@pytest.mark.timeout(240)
def test_short_soak_loses_nothing_and_logs_no_error(tmp_path: Path) -> None:
    cfg = SoakConfig(minutes=0.5, users=20, rate=20, window=5, churn=8)
    lines: list[str] = []
    report = asyncio.run(run_soak(cfg, tmp_path, lines.append))
    summary = "\n".join([*lines, format_summary(report)])
    assert len(report.windows) == 6, summary
    assert report.result.sent >= 500 and report.result.acked == report.result.sent, summary
    assert report.result.lost == 0 and report.result.duplicated == 0, summary
    assert report.result.reconnects > cfg.users, summary  # the churn reconnected clients
    assert report.ok, summary
