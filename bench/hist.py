"""A small HDR-like histogram: log-linear buckets, about 0.8 % relative error.

Values are recorded in microseconds (integers). Each power of two is split into
128 linear sub-buckets, so the recorded value of a percentile is within 1/128
of the true one; min, max, count and sum are exact.
"""

from __future__ import annotations

from typing import Any

SUB_BITS = 7
SUB_COUNT = 1 << SUB_BITS


def _index(value: int) -> int:
    exponent = max(0, value.bit_length() - SUB_BITS)
    return (exponent << SUB_BITS) + (value >> exponent)


def _upper(index: int) -> int:
    """Highest value that falls in bucket ``index`` (reported, so percentiles never under-state)."""
    exponent, sub = divmod(index, SUB_COUNT)
    return ((sub + 1) << exponent) - 1


class Histogram:
    def __init__(self) -> None:
        self.counts: dict[int, int] = {}
        self.count = 0
        self.total = 0
        self.min: int | None = None
        self.max = 0

    def record(self, seconds: float) -> None:
        value = max(0, int(seconds * 1_000_000))
        index = _index(value)
        self.counts[index] = self.counts.get(index, 0) + 1
        self.count += 1
        self.total += value
        self.max = max(self.max, value)
        self.min = value if self.min is None else min(self.min, value)

    def merge(self, other: Histogram) -> None:
        for index, n in other.counts.items():
            self.counts[index] = self.counts.get(index, 0) + n
        self.count += other.count
        self.total += other.total
        self.max = max(self.max, other.max)
        if other.min is not None:
            self.min = other.min if self.min is None else min(self.min, other.min)

    def percentile(self, p: float) -> int:
        """Value (µs) at percentile ``p`` (0-100); 0 when empty."""
        if not self.count:
            return 0
        rank = max(1, round(p / 100.0 * self.count + 0.4999999))
        seen = 0
        for index in sorted(self.counts):
            seen += self.counts[index]
            if seen >= rank:
                return min(_upper(index), self.max)
        return self.max

    def summary_ms(self) -> dict[str, Any]:
        def ms(us: int) -> float:
            return round(us / 1000.0, 2)

        return {
            "count": self.count,
            "p50_ms": ms(self.percentile(50)),
            "p95_ms": ms(self.percentile(95)),
            "p99_ms": ms(self.percentile(99)),
            "max_ms": ms(self.max),
            "mean_ms": ms(self.total // self.count) if self.count else 0.0,
        }
