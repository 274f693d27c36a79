"""The restore benchmark script still runs end to end (a small workspace; the figures are in RESULTS.md)."""

from __future__ import annotations

import json
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


def test_the_growth_benchmark_backs_up_each_simulated_day_and_measures_the_remote_after_gc(tmp_path):
    out = tmp_path / "out"
    args = ["--notebooks", "700", "--days", "3", "--gc-every", "2", "--commit", "test"]
    run = subprocess.run(
        [
            sys.executable,
            str(BENCHMARKS / "growth.py"),
            *args,
            "--workdir",
            str(tmp_path / "work"),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    results = json.loads((out / "growth-single-700-test.json").read_text())
    assert [d["day"] for d in results["days"]] == [0, 1, 2, 3]
    assert all(d["pushed_bytes"] > 0 for d in results["days"]), results["days"]
    assert results["days"][0]["notebooks"] == 700 and results["days"][1]["touched"] > 0
    assert [g["day"] for g in results["gc"]] == [0, 2, 3]
    assert all(g["after_bytes"] <= g["before_bytes"] for g in results["gc"])
    assert results["projection"]["how"].startswith("linear fit of the post-gc sizes of days 2-3")
    assert (out / "growth-single-700-test.png").stat().st_size > 0
    assert "after `git gc` MiB" in (out / "growth-single-700-test.md").read_text()


def test_the_history_browser_benchmark_builds_a_history_and_times_each_step(tmp_path):
    out = tmp_path / "out.md"
    args = [
        "--notebooks",
        "400",
        "--days",
        "5",
        "--changed",
        "40",
        "--workdir",
        str(tmp_path),
        "--out",
        str(out),
    ]
    run = subprocess.run(
        [sys.executable, str(BENCHMARKS / "history_browser.py"), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert "| search while typing" in out.read_text() and "deleted since" in out.read_text()
