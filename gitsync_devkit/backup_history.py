"""A synthetic backup history: many daily runs of the backup DAG with plausible summaries.

For the Backups view's browser test, its load benchmark and ``make demo UI=1``: days of runs
written straight into an Airflow database (dag runs, the ``report`` task instance and its
``summary`` XCom) as the real DAG leaves them, without running it. Summaries are built by
:class:`airflow_gitsync.backup_report.Summary`, so they have the real shape. Some days fail, some are
partial (the same few engagements failing again), some have no run at all.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from airflow_gitsync.backup_report import Summary
from airflow_gitsync.compat import UTC
from airflow_gitsync.ui.history import BackupRun

ROOT = "/Clients"
FLAKY = ("2024/ENG-117", "2025/ENG-042", "2023/ENG-008")


@dataclass(frozen=True)
class Day:
    """One synthetic run: its date, dag run state and summary (None: the report pushed none)."""

    day: date
    state: str
    summary: dict | None
    seconds: float


def _summary(rng: random.Random, size: int, failures: list[tuple[str, str]], complete: bool) -> Summary:
    summary = Summary(complete=complete, failures=failures)
    for year in ("2023", "2024", "2025"):
        counts = summary.per_year[year]
        counts["added"] = rng.randint(0, 120)
        counts["modified"] = rng.randint(200, 1100)
        counts["deleted"] = rng.randint(0, 70)
        counts["unchanged"] = 23_000 - counts["modified"]
        counts["skipped"] = rng.randint(0, 3)
    for path, _ in failures:
        summary.per_year[path.split("/")[2] if path.startswith("/") else path[:4]]["failed"] += 1
    exports = sum(summary.totals[k] for k in ("added", "modified"))
    summary.api["list"].update(calls=3_200, http_429=rng.randint(0, 5), retries=0)
    summary.api["export"].update(calls=exports, http_429=rng.randint(0, 20), retries=0)
    summary.durations = {
        "prepare": rng.uniform(4, 9),
        "scan": 3_200 / 50 * rng.uniform(1.0, 1.15),
        "export": exports / 60 * rng.uniform(1.05, 1.4),
        "commit": rng.uniform(5, 12),
    }
    summary.peak_rss = {"prepare": 150 << 20, "scan": 180 << 20, "export": 210 << 20, "commit": 340 << 20}
    summary.commit = {
        "commits": [f"{rng.getrandbits(160):040x}" for _ in range(1 + exports // 1000)],
        "head": f"{rng.getrandbits(160):040x}",
        "tag": None,
        "pushed_bytes": exports * rng.randint(6_000, 9_000),
        "repo_size_bytes": size,
        "size_warning": None,
        "complete": complete,
        "missing_engagements": [],
    }
    return summary


def generate(last: date, days: int, seed: int = 14, start_size: int = 3 << 30) -> list[Day]:
    """``days`` dates up to ``last``: mostly complete, a few partial or failed, a few without a run."""
    rng = random.Random(seed)
    out = []
    size = start_size
    for i in range(days):
        day = last - timedelta(days=days - 1 - i)
        size += rng.randint(8, 18) << 20
        roll = rng.random()
        if roll < 0.02 and 0 < i < days - 1:
            continue  # no run that day
        if roll < 0.05:
            out.append(Day(day, "failed", None, rng.uniform(30, 200)))
            continue
        failures = []
        if roll < 0.13:
            engagement = rng.choice(FLAKY)
            failures = [
                (f"{ROOT}/{engagement}/NOTEBOOKS/big_{n}", "larger than the 10 MB export limit")
                for n in range(rng.randint(1, 3))
            ]
        summary = _summary(rng, size, failures, complete=True)
        summary.commit["tag"] = f"backup/{day.isoformat()}"
        seconds = sum(summary.durations.values()) + rng.uniform(15, 40)
        out.append(Day(day, "failed" if failures else "success", summary.to_dict(), seconds))
    return out


def records(history: Iterable[Day]) -> list[BackupRun]:
    """The days as the data access reads them (for tests of the pure modules)."""
    return [
        BackupRun(
            run_id=_run_id(d.day),
            day=d.day,
            state=d.state,
            start=_start(d.day),
            end=_start(d.day) + timedelta(seconds=d.seconds),
            summary=d.summary,
        )
        for d in history
    ]


def _run_id(day: date) -> str:
    return f"scheduled__{day.isoformat()}T00:00:00+00:00"


def _start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 2, tzinfo=UTC)


def insert(dag_id: str, history: Iterable[Day]) -> int:
    """Write the days into the Airflow database of this process (``AIRFLOW_HOME``); return how many."""
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import insert as sql_insert
    from sqlalchemy import select

    from airflow_gitsync.results import TaskId, XComKey

    history = list(history)
    with create_session() as session:
        session.execute(
            sql_insert(DagRun.__table__),
            [
                {
                    "dag_id": dag_id,
                    "run_id": _run_id(d.day),
                    "run_type": "scheduled",
                    "state": d.state,
                    "logical_date": _start(d.day) - timedelta(hours=2),
                    "data_interval_start": _start(d.day) - timedelta(hours=2),
                    "data_interval_end": _start(d.day),
                    "run_after": _start(d.day),
                    "start_date": _start(d.day),
                    "end_date": _start(d.day) + timedelta(seconds=d.seconds),
                    "conf": {},
                }
                for d in history
            ],
        )
        ids = dict(
            session.execute(
                select(DagRun.run_id, DagRun.id).where(
                    DagRun.dag_id == dag_id, DagRun.run_id.in_([_run_id(d.day) for d in history])
                )
            ).all()
        )
        done = [d for d in history if d.summary is not None]
        session.execute(
            sql_insert(TaskInstance.__table__),
            [
                {
                    "dag_id": dag_id,
                    "task_id": TaskId.REPORT.value,
                    "run_id": _run_id(d.day),
                    "map_index": -1,
                    "state": "success" if d.state == "success" else "failed",
                    "pool": "default_pool",
                    "try_number": 1,
                }
                for d in done
            ],
        )
        session.execute(
            sql_insert(XComModel.__table__),
            [
                {
                    "dag_run_id": ids[_run_id(d.day)],
                    "dag_id": dag_id,
                    "task_id": TaskId.REPORT.value,
                    "run_id": _run_id(d.day),
                    "map_index": -1,
                    "key": XComKey.SUMMARY.value,
                    "value": XComModel.serialize_value(d.summary),
                }
                for d in done
            ],
        )
    return len(history)


def main(argv: list[str] | None = None) -> int:
    """``python -m gitsync_devkit.backup_history --days 400``: write a history into ``AIRFLOW_HOME``'s
    database, up to yesterday."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__.splitlines()[0])
    parser.add_argument("--dag-id", default="databricks_git_backup")
    parser.add_argument("--days", type=int, default=400)
    parser.add_argument("--last", type=date.fromisoformat, default=None, help="default: yesterday (UTC)")
    parser.add_argument("--seed", type=int, default=14)
    args = parser.parse_args(argv)
    last = args.last or datetime.now(UTC).date() - timedelta(days=1)
    print(f"{insert(args.dag_id, generate(last, args.days, args.seed))} runs written")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
