"""NeonChat load harness: ``python -m bench --help``.

Open-model load (constant arrival rate, latency from the intended send time)
against a NeonChat stack or the Channels-tutorial baseline in ``bench.baseline``.
See ``docs/performance.md``.
"""
