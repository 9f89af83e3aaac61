"""``bench.restwrk``: the side-by-side wrk table (wrk itself runs in ``make bench``)."""

from __future__ import annotations

from bench.restwrk import table, targets


def _run(rps: float, p95: float) -> dict[str, float]:
    return {"rps": rps, "p50": p95 / 2, "p95": p95, "p99": p95 * 2, "non2xx": 0.0}


def test_medians_and_neonchat_over_each_baseline() -> None:
    results = {
        ("chats", "neonchat", 4): [_run(300, 10), _run(280, 12), _run(320, 8)],
        ("chats", "drf-tutorial", 4): [_run(100, 40), _run(150, 30), _run(50, 50)],
    }
    lines = table(results, ["neonchat", "drf-tutorial"], first_over=True).splitlines()
    assert "neonchat / this" in lines[0]
    assert lines[2] == "| chats | 4 | neonchat | 300 | 1.00x | 5.0 | 10.0 | 20.0 | 0 |"
    assert lines[3] == "| chats | 4 | drf-tutorial | 100 | 3.00x | 20.0 | 40.0 | 80.0 | 0 |"
    # The default reads the other way: each target's RPS over the first's.
    assert "| drf-tutorial | 100 | 0.33x |" in table(results, ["neonchat", "drf-tutorial"])


def test_the_targets_read_from_the_medians() -> None:
    results = {
        ("health", "neonchat", 4): [_run(1000, 5)],
        ("me", "neonchat", 4): [_run(850, 6)],
        ("health", "neonchat", 16): [_run(1000, 20)],
        ("me", "neonchat", 16): [_run(700, 30)],
        ("chats", "neonchat", 4): [_run(320, 18), _run(290, 25), _run(310, 19)],
        ("chats", "neonchat", 16): [_run(450, 60)],
        ("chats", "drf-tutorial", 4): [_run(100, 60)],
        ("chats", "drf-tutorial", 16): [_run(250, 90)],
    }
    assert targets(results, ["neonchat", "drf-tutorial"]) == [
        "chat list, 4 conns: 310 RPS, p95 19.0 ms (>= 300, <= 20 ms): met",
        "chat list, 16 conns: 450 RPS (>= 500): NOT met",
        "/users/me over /health/live, 4 conns: 85% (>= 80%): met",
        "/users/me over /health/live, 16 conns: 70% (>= 80%): NOT met",
        "every endpoint over each baseline: lowest 1.80x (>= 2x): NOT met",
    ]
