"""Run the backup DAG for one logical date and read back what it did, from Airflow's own database.

Two ways: ``airflow dags test`` in a subprocess (every task in that one process, one at a time), or
a real ``api-server`` + ``scheduler`` + ``dag-processor`` with the LocalExecutor (every task its own
process), triggered through the REST API as the UI does.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

from stack import run_measured

from gitsync_devkit.local_airflow import LocalAirflow, backup_env

DAG_ID = "databricks_git_backup"


def airflow_env(home: Path, base: dict[str, str], rates: dict[str, float]) -> dict:
    """The default [gitsync] settings, with the workspace's rate limits the emulator enforces."""
    return (
        base
        | backup_env(home, home)
        | {
            "AIRFLOW__GITSYNC__EXPORT_RPS": str(rates["export"]),
            "AIRFLOW__GITSYNC__LIST_RPS": str(rates["list"]),
        }
    )


def migrate(env: dict) -> None:
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], env=env, check=True, capture_output=True
    )


def read_run(home: Path, run_id: str | None = None) -> dict:
    """The report task's summary and the task instances' durations of ``run_id`` (default: the latest run)."""
    with sqlite3.connect(home / "airflow.db") as db:
        if run_id is None:
            (run_id,) = db.execute("SELECT run_id FROM dag_run ORDER BY id DESC LIMIT 1").fetchone()
        row = db.execute(
            "SELECT value FROM xcom WHERE run_id = ? AND task_id = 'report' "
            "AND key IN ('summary', 'return_value')",
            (run_id,),
        ).fetchone()
        tis = db.execute(
            "SELECT task_id, count(*), sum(duration), min(start_date), max(end_date) FROM task_instance "
            "WHERE run_id = ? GROUP BY task_id",
            (run_id,),
        ).fetchall()
    summary = json.loads(row[0]) if row else None
    if isinstance(summary, str):
        summary = json.loads(summary)
    starts = [datetime.fromisoformat(start) for _, _, _, start, _ in tis if start]
    ends = [datetime.fromisoformat(end) for _, _, _, _, end in tis if end]
    return {
        "run_id": run_id,
        "summary": summary,
        "task_instances": {
            task: {
                "count": n,
                "seconds": sec or 0.0,
                "span_seconds": (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
                if start and end
                else 0.0,
            }
            for task, n, sec, start, end in tis
        },
        "tasks_span_seconds": (max(ends) - min(starts)).total_seconds(),
    }


def dags_test(env: dict, day: str, log: Path) -> dict:
    """``airflow dags test`` for ``day``: wall time and peak RSS of the whole process, and the run."""
    with log.open("w") as out:
        wall, rss, code = run_measured(
            [sys.executable, "-m", "airflow", "dags", "test", DAG_ID, day],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    if code:
        print(f"warning: airflow dags test {day} exited {code}: see {log}", file=sys.stderr)
    return {"wall_seconds": wall, "process_peak_rss_bytes": rss} | read_run(Path(env["AIRFLOW_HOME"]))


class Scheduler(LocalAirflow):
    """api-server + scheduler + dag-processor (LocalExecutor) on a fresh SQLite home, only our runs."""

    def __init__(self, env: dict) -> None:
        super().__init__(env, parallelism=6, extra={"AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False"})

    def __enter__(self) -> Scheduler:
        super().__enter__()
        self.unpause(DAG_ID)
        return self

    def run(self, day: str) -> dict:
        """Trigger a run for ``day`` and wait for it: wall time from the trigger to the run's end."""
        started = time.monotonic()
        run_id = self.trigger(DAG_ID, f"{day}T02:00:00Z")
        state = self.wait(f"run {run_id}", lambda: self.run_state(DAG_ID, run_id), 7200, interval=0.5)
        wall = time.monotonic() - started
        if state != "success":
            print(f"warning: scheduler run {run_id} ended {state}", file=sys.stderr)
        return {"wall_seconds": wall, "process_peak_rss_bytes": None} | read_run(self.home, run_id)
