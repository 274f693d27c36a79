"""The Backups view's one query against a migrated Airflow database (SQLite)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from airflow_gitsync.compat import UTC
from gitsync_devkit.backup_history import generate, insert

DAG_ID = "backups_store_test"


@pytest.fixture(scope="module")
def history(airflow_db):
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import update

    days = generate(date(2026, 11, 30), 30, seed=3)
    insert(DAG_ID, days)
    with create_session() as session:  # as `airflow dags test` leaves it: start = the logical date
        session.execute(
            update(DagRun)
            .where(DagRun.dag_id == DAG_ID, DagRun.run_id == "scheduled__2026-11-30T00:00:00+00:00")
            .values(start_date=datetime(2026, 11, 30, tzinfo=UTC))
        )
    return days


def test_a_page_is_the_newest_runs_with_their_summaries(history):
    from airflow.utils.session import create_session

    from airflow_gitsync.ui.store import backup_runs

    with create_session() as session:
        page = backup_runs(session, DAG_ID, limit=10)
        older = backup_runs(session, DAG_ID, limit=100, before=page[-1].day)
        one = backup_runs(session, DAG_ID, limit=1, run_id=page[3].run_id)
    newest = sorted(history, key=lambda d: d.day, reverse=True)
    assert [r.day for r in page + older] == [d.day for d in newest]
    assert [r.summary for r in page] == [d.summary for d in newest[:10]]
    assert [r.state for r in page] == [d.state for d in newest[:10]]
    assert one == [page[3]]
    last = page[0]
    assert last.start == datetime(2026, 11, 30, 2, tzinfo=UTC)  # run_after, not the recorded logical date
    assert last.end - last.start == timedelta(seconds=newest[0].seconds)
