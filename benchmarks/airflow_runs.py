"""Run the backup DAG for one logical date and read back what it did, from Airflow's own database.

Three ways: ``airflow dags test`` in a subprocess (every task in that one process, one at a time); a
real ``api-server`` + ``scheduler`` + ``dag-processor`` with the LocalExecutor (every task its own
process), triggered through the REST API as the UI does; the same on Postgres with the CeleryExecutor
and two workers, the staging store and large XComs in Azurite (``gitsync_devkit.cluster``).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import sqlalchemy
from stack import run_measured

from gitsync_devkit.cluster import CeleryAirflow
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


def read_run(home: Path, run_id: str | None = None, database: str | None = None) -> dict:
    """The report task's summary and the task instances' durations of ``run_id`` (default: the latest run),
    from the metadata database at ``database`` (default: the SQLite one in ``home``)."""
    engine = sqlalchemy.create_engine(database or f"sqlite:///{home}/airflow.db")
    with engine.connect() as db:
        if run_id is None:
            run_id = db.execute(
                sqlalchemy.text("SELECT run_id FROM dag_run ORDER BY id DESC LIMIT 1")
            ).scalar()
        row = db.execute(
            sqlalchemy.text(
                "SELECT value FROM xcom WHERE run_id = :run AND task_id = 'report' "
                "AND key IN ('summary', 'return_value')"
            ),
            {"run": run_id},
        ).first()
        tis = db.execute(
            sqlalchemy.text(
                "SELECT task_id, count(*), sum(duration), min(start_date), max(end_date) FROM task_instance "
                "WHERE run_id = :run GROUP BY task_id"
            ),
            {"run": run_id},
        ).all()
    engine.dispose()
    summary = row[0] if row else None
    while isinstance(summary, str):  # JSON text in SQLite (twice encoded), parsed already on Postgres
        summary = json.loads(summary)
    tis = [(task, n, sec, _time(start), _time(end)) for task, n, sec, start, end in tis]
    starts = [start for _, _, _, start, _ in tis if start]
    ends = [end for _, _, _, _, end in tis if end]
    return {
        "run_id": run_id,
        "summary": summary,
        "task_instances": {
            task: {
                "count": n,
                "seconds": sec or 0.0,
                "span_seconds": (end - start).total_seconds() if start and end else 0.0,
            }
            for task, n, sec, start, end in tis
        },
        "tasks_span_seconds": (max(ends) - min(starts)).total_seconds(),
    }


def _time(value: str | datetime | None) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


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


NO_SCHEDULE = {"AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False"}  # only the benchmark's runs


def scheduler(env: dict) -> LocalAirflow:
    """api-server + scheduler + dag-processor (LocalExecutor) on a fresh SQLite home."""
    return LocalAirflow(env, parallelism=6, extra=NO_SCHEDULE)


def celery(
    env: dict,
    local_staging: bool = False,
    storage_delay_ms: float = 0,
    fresh_pods: bool = False,
    rate_limit_url: str | None = None,
) -> CeleryAirflow:
    """The same on Postgres with the CeleryExecutor and two workers (two slots each), staging and large
    XComs in Azurite (with ``local_staging``, staging in ``env``'s file:// store, which workers on one
    machine share; with ``storage_delay_ms``, each request to Azurite held back by that long, as a remote
    storage account's round trip); its services and workers' caches under ``<home>/cluster``. With
    ``fresh_pods``, every task starts with an empty ``cache_dir`` of its own, as a KubernetesExecutor pod
    does; ``rate_limit_url`` sets ``[gitsync] rate_limit_url`` (default ``auto``: the broker's Redis)."""
    local = {
        "AIRFLOW__GITSYNC__STAGING_URL": env["AIRFLOW__GITSYNC__STAGING_URL"],
        "AIRFLOW__GITSYNC__STAGING_CONN_ID": "",
    }
    extra = NO_SCHEDULE | (local if local_staging else {})
    if rate_limit_url:
        extra["AIRFLOW__GITSYNC__RATE_LIMIT_URL"] = rate_limit_url
    return CeleryAirflow(
        env,
        Path(env["AIRFLOW_HOME"]) / "cluster",
        parallelism=6,
        storage_delay_ms=storage_delay_ms,
        fresh_pods=fresh_pods,
        extra=extra,
    )


def triggered_runs(airflow: LocalAirflow):
    """Unpause the DAG on a started ``airflow``; return ``run(day)``, which triggers a run for ``day`` and
    waits for it: wall time from the trigger to the run's end, and what :func:`read_run` reads; on a
    :class:`CeleryAirflow`, also the requests to the storage account from the trigger to the run's end
    (``storage_requests``: see :meth:`CeleryAirflow.storage_requests`; ``proxied_requests``, those the
    delay proxy saw, if there is one)."""
    airflow.unpause(DAG_ID)
    database = airflow.env.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN")
    cluster = airflow if isinstance(airflow, CeleryAirflow) else None

    def run(day: str) -> dict:
        storage = {}
        if cluster:
            offset = cluster.storage_log_offset()
            proxied = cluster.proxy.count if cluster.proxy else 0
        started = time.monotonic()
        run_id = airflow.trigger(DAG_ID, f"{day}T02:00:00Z")
        state = airflow.wait(f"run {run_id}", lambda: airflow.run_state(DAG_ID, run_id), 7200, interval=0.5)
        wall = time.monotonic() - started
        if state != "success":
            print(f"warning: run {run_id} ended {state}", file=sys.stderr)
        if cluster:
            storage["storage_requests"] = cluster.storage_requests(offset)
            if cluster.proxy:
                storage["proxied_requests"] = cluster.proxy.count - proxied
        result = read_run(airflow.home, run_id, database)
        return {"wall_seconds": wall, "process_peak_rss_bytes": None} | result | storage

    return run
