"""The load harness's CI smoke run: ~20 s of open-model load against the real
three-process stack; it fails on any acknowledged message missing from history."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import Stack
from tests.e2e.procs import ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_bench_smoke_loses_nothing(stack: Stack, tmp_path: Path) -> None:
    out = tmp_path / "smoke.json"
    args = [
        sys.executable,
        "-m",
        "bench",
        "smoke",
        "--api",
        stack.api.url,
        "--ws",
        stack.gateway.ws,
        "--json",
        str(out),
    ]
    run = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=240, check=False)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    result = json.loads(out.read_text())
    assert "lost" in json.dumps(result)
