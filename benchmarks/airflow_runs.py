"""Run the backup DAG for one logical date and read back what it did, from Airflow's own database.

Two ways: ``airflow dags test`` in a subprocess (every task in that one process, one at a time), or
a real ``api-server`` + ``scheduler`` + ``dag-processor`` with the LocalExecutor (every task its own
process), triggered through the REST API as the UI does.
"""

from __future__ import annotations

import json
import socket
import sqlite3
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import requests
from stack import run_measured

DAG_ID = "databricks_git_backup"
ROOT = Path(__file__).resolve().parents[1]


def airflow_env(home: Path, base: dict[str, str], parallel_tasks: int, rates: dict[str, float]) -> dict:
    return base | {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__MAX_MAP_LENGTH": "4096",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        "AIRFLOW__GITSYNC__STAGING_URL": f"file://{home}/staging",
        "AIRFLOW__GITSYNC__CACHE_DIR": str(home / "mirrors"),
        "AIRFLOW__GITSYNC__PARALLEL_TASKS": str(parallel_tasks),
        "AIRFLOW__GITSYNC__EXPORT_RPS": str(rates["export"]),
        "AIRFLOW__GITSYNC__LIST_RPS": str(rates["list"]),
    }


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


class Scheduler:
    """api-server + scheduler + dag-processor (LocalExecutor) on a fresh SQLite home, and a REST client."""

    def __init__(self, env: dict) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.home = Path(env["AIRFLOW_HOME"])
        self.url = f"http://127.0.0.1:{port}"
        (self.home / "passwords.json").write_text(json.dumps({"admin": "admin-pw"}))
        self.env = env | {
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "6",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.home / "passwords.json"),
            "AIRFLOW__API__BASE_URL": self.url,
            "AIRFLOW__API_AUTH__JWT_SECRET": "bench-jwt-secret-for-this-run-only",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",  # only the runs we trigger
        }
        self.procs: list[subprocess.Popen] = []
        self.session = requests.Session()

    def __enter__(self) -> Scheduler:
        migrate(self.env)
        port = self.url.rsplit(":", 1)[1]
        for component in (
            ["api-server", "--port", port, "--host", "127.0.0.1"],
            ["scheduler"],
            ["dag-processor"],
        ):
            with (self.home / f"{component[0]}.log").open("w") as log:
                self.procs.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "airflow", *component],
                        env=self.env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
                )
        self._wait(lambda: requests.get(f"{self.url}/api/v2/version", timeout=5).ok, 300)
        token = self.session.post(
            f"{self.url}/auth/token", json={"username": "admin", "password": "admin-pw"}, timeout=30
        )
        token.raise_for_status()
        self.session.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        self._wait(lambda: self._api("GET", f"/dags/{DAG_ID}"), 300)
        self._api("PATCH", f"/dags/{DAG_ID}", json={"is_paused": False})
        return self

    def __exit__(self, *exc_info) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def _api(self, method: str, path: str, **kwargs) -> dict:
        response = self.session.request(method, f"{self.url}/api/v2{path}", timeout=30, **kwargs)
        response.raise_for_status()
        return response.json()

    @staticmethod
    def _wait(predicate, timeout: float, interval: float = 1.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if value := predicate():
                    return value
            except requests.RequestException:
                pass
            time.sleep(interval)
        raise SystemExit(f"error: timed out after {timeout:.0f} s waiting on the scheduler")

    def run(self, day: str) -> dict:
        """Trigger a run for ``day`` and wait for it: wall time from the trigger to the run's end."""
        started = time.monotonic()
        run = self._api(
            "POST", f"/dags/{DAG_ID}/dagRuns", json={"logical_date": f"{day}T02:00:00Z", "conf": {}}
        )
        run_id = run["dag_run_id"]

        def finished():
            state = self._api("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}")["state"]
            return state if state in ("success", "failed") else None

        state = self._wait(finished, 7200, interval=0.5)
        wall = time.monotonic() - started
        if state != "success":
            print(f"warning: scheduler run {run_id} ended {state}", file=sys.stderr)
        return {"wall_seconds": wall, "process_peak_rss_bytes": None} | read_run(self.home, run_id)
