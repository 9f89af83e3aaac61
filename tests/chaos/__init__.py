"""Chaos suite: a supervised NeonChat stack on its own PostgreSQL and Redis,
steady contract-following load, and one fault at a time (see docs/reliability.md).

``python -m tests.chaos`` runs the full version; ``tests/chaos/test_chaos.py`` a short one.
"""
