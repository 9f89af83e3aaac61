"""``bench.matrix``: the side-by-side table (the stacks themselves run in ``python -m bench.matrix``)."""

from __future__ import annotations

from typing import Any

import pytest

from bench.matrix import VARIANTS, _report, main


def _run(delivered: float, p95: float) -> dict[str, Any]:
    latency = {"p50_ms": p95 / 2, "p95_ms": p95, "p99_ms": p95, "max_ms": p95}
    return {
        "scenario": "messages", "achieved_delivery_rate": delivered, "ack_latency": latency, "delivery_latency": latency, "error_total": 0,
        "lost": 0, "processes": [{"name": "gateway", "cpu_pct_mean": 50.0}, {"name": "harness", "cpu_pct_mean": 9.0}],
    }  # fmt: skip


def test_medians_and_ratio_to_the_default() -> None:
    runs = {
        "default": {100.0: [_run(100, 10), _run(90, 30), _run(95, 20)]},
        "daphne": {100.0: [_run(50, 40), _run(40, 50), _run(45, 60)]},
    }
    report = _report(["default", "daphne"], [100.0], runs)
    assert report["medians"]["default"]["100.0"]["achieved_delivery_rate"] == 95
    assert report["medians"]["daphne"]["100.0"]["del_p95"] == 50
    assert report["medians"]["daphne"]["100.0"]["cpu_total"] == 50.0  # the harness is not a server
    daphne_row = next(line for line in report["table"].splitlines() if line.startswith("| daphne"))
    assert daphne_row.rstrip(" |").endswith("0.47")


def test_unknown_variant_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--variants", "default,nginx"])
    assert exit_info.value.code == 2
    assert "nginx" in capsys.readouterr().err
    assert "default" in VARIANTS


def test_rest_runs_are_compared_by_achieved_request_rate() -> None:
    def rest(rate: float, p95: float) -> dict[str, Any]:
        latency = {"p50_ms": p95 / 2, "p95_ms": p95, "p99_ms": p95, "max_ms": p95}
        return {"scenario": "rest", "achieved_rate": rate, "latency": latency, "error_total": 0, "processes": []}

    runs = {"default": {300.0: [rest(300, 15)]}, "thread-per-request": {300.0: [rest(60, 900)]}}
    report = _report(["default", "thread-per-request"], [300.0], runs)
    assert report["medians"]["thread-per-request"]["300.0"]["p95"] == 900
    assert "achieved_rate vs default" in report["table"]
    row = next(line for line in report["table"].splitlines() if line.startswith("| thread-per-request"))
    assert row.rstrip(" |").endswith("0.20")
