"""The Backups view's page load on a real API server (SQLite): 400 dates of history, then 2,000.

Starts ``api-server`` + ``scheduler`` + ``dag-processor`` (:class:`LocalAirflow`) on a fresh home,
writes a synthetic history (:mod:`gitsync_devkit.backup_history`), and times authenticated GETs of
the 400-date page (the default page) over HTTP: the first (which imports the app) and the median of
the next ten. Then it adds 1,600 older dates and times the newest page again (one keyset query, so
the older rows must not cost anything). Prints a markdown line for ``RESULTS.md``.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gitsync_devkit.local_airflow import LocalAirflow

DAG_ID = "databricks_git_backup"


def _write(airflow: LocalAirflow, days: int, last: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "gitsync_devkit.backup_history", "--days", str(days), "--last", last],
        env=airflow.env,
        check=True,
        capture_output=True,
    )


def _times(airflow: LocalAirflow, url: str, n: int) -> list[float]:
    out = []
    for _ in range(n):
        started = time.perf_counter()
        response = airflow.session.get(url, timeout=60)
        out.append(time.perf_counter() - started)
        response.raise_for_status()
    return out


def main() -> int:
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    with tempfile.TemporaryDirectory(prefix="bench-backups-view-") as tmp:
        empty = Path(tmp, "dags")
        empty.mkdir()
        env = dict(os.environ) | {"AIRFLOW_HOME": f"{tmp}/home", "AIRFLOW__CORE__DAGS_FOLDER": str(empty)}
        with LocalAirflow(env) as airflow:
            url = f"{airflow.url}/gitsync/dags/{DAG_ID}/backups"
            _write(airflow, 400, yesterday.isoformat())
            first, *warm = _times(airflow, url, 11)
            size = len(airflow.session.get(url, timeout=60).content)
            _write(airflow, 1600, (yesterday - timedelta(days=400)).isoformat())
            deep = _times(airflow, url, 10)
    print(
        f"| 400 dates, SQLite, HTTP | first {first:.2f} s (imports the app) "
        f"| median {statistics.median(warm):.3f} s, max {max(warm):.3f} s | {size / 1024:,.0f} KiB "
        f"| with 2,000 dates in the table: median {statistics.median(deep):.3f} s |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
