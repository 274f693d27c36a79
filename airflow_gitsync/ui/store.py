"""The Backups view's data access: a page of a DAG's runs with their summaries, in one query.

The dag runs are joined with the ``report`` task's ``summary`` XCom (its primary key), newest
backup date first, keyset-paginated by date, so a page costs one indexed query however long the
history is and the scheduler's tables are read, never locked for long.
"""

from __future__ import annotations

from datetime import date, datetime
from types import SimpleNamespace

from airflow.models.dagrun import DagRun
from airflow.models.xcom import XComModel
from airflow.utils.sqlalchemy import UtcDateTime
from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from airflow_gitsync.compat import UTC
from airflow_gitsync.results import TaskId, XComKey
from airflow_gitsync.ui.history import BackupRun


def backup_runs(
    session: Session, dag_id: str, *, limit: int, before: date | None = None, run_id: str | None = None
) -> list[BackupRun]:
    """Up to ``limit`` runs of ``dag_id`` dated before ``before`` (or the one ``run_id``), newest first."""
    day = func.coalesce(DagRun.logical_date, DagRun.run_after, type_=UtcDateTime)
    query = (
        select(
            DagRun.run_id,
            DagRun.state,
            day,
            DagRun.run_after,
            DagRun.start_date,
            DagRun.end_date,
            DagRun.conf,
            XComModel.value,
        )
        .outerjoin(
            XComModel,
            and_(
                XComModel.dag_run_id == DagRun.id,
                XComModel.task_id == TaskId.REPORT,
                XComModel.map_index == -1,
                XComModel.key == XComKey.SUMMARY.value,
            ),
        )
        .where(DagRun.dag_id == dag_id)
        .order_by(day.desc())
        .limit(limit)
    )
    if before is not None:
        query = query.where(day < datetime(before.year, before.month, before.day, tzinfo=UTC))
    if run_id is not None:
        query = query.where(DagRun.run_id == run_id)
    records = []
    for run_id_, state, when, run_after, start, end, conf, value in session.execute(query):
        summary = XComModel.deserialize_value(SimpleNamespace(value=value))
        records.append(
            BackupRun(
                run_id=run_id_,
                day=when.astimezone(UTC).date(),
                state=str(state),
                # no run starts before it may: `airflow dags test` records the logical date as start
                start=max(start, run_after) if start else None,
                end=end,
                conf=conf if isinstance(conf, dict) else {},
                summary=summary if isinstance(summary, dict) else None,
            )
        )
    return records
