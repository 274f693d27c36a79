"""A task's peak RSS is its own, not that of the process that started it."""

from __future__ import annotations

import json
import subprocess
import sys

from airflow_gitsync.results import TaskMetrics, peak_rss_bytes

CHILD = (
    "import json, resource; from airflow_gitsync.results import peak_rss_bytes; "
    "print(json.dumps([peak_rss_bytes(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024]))"
)


def test_a_process_started_by_a_large_one_reports_its_own_peak():
    ballast = bytearray(400 << 20)  # touched: 400 MiB resident in this process
    ballast[:: 1 << 12] = b"x" * len(ballast[:: 1 << 12])
    assert peak_rss_bytes() >= 400 << 20
    ours, inherited = json.loads(
        subprocess.run([sys.executable, "-c", CHILD], capture_output=True, check=True).stdout
    )
    # Linux keeps the parent's peak in the child's ru_maxrss across exec; VmHWM is the child's own.
    assert inherited >= 400 << 20 and 0 < ours < 200 << 20
    del ballast


def test_task_metrics_measure_seconds_and_this_processs_peak():
    metrics = TaskMetrics.since(0.0)
    assert metrics.seconds > 0 and metrics.peak_rss_bytes == peak_rss_bytes() > 0
    assert peak_rss_bytes(2**22 + 12345) == 0  # no such process
