"""The restore benchmark script still runs end to end (a small workspace; the figures are in RESULTS.md)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def test_the_restore_benchmark_restores_everything_byte_identical():
    run = subprocess.run(
        [sys.executable, str(BENCHMARKS / "restore.py"), "--notebooks", "60", "--repeat", "1"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    figures = dict(
        line.split(None, 1) for line in run.stdout.splitlines() if line.startswith(("failed", "byte"))
    )
    assert figures == {"failed": "0", "byte-identical": "True"}, run.stdout
    assert "import rate / limit, median" in run.stdout
