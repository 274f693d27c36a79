"""The Backups view's FastAPI app, mounted by the plugin under ``/gitsync`` in Airflow's API server.

Thin: each page is one query (:mod:`airflow_gitsync.ui.store`) rendered by
:mod:`airflow_gitsync.ui.pages`. Every route needs what reading the DAG's runs needs in Airflow's
auth manager (``GET`` on the DAG's ``RUN``), from the UI's session cookie or a bearer token.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
from airflow.api_fastapi.common.db.common import SessionDep
from airflow.api_fastapi.core_api.security import requires_access_dag
from airflow.exceptions import AirflowNotFoundException
from airflow.models.connection import Connection
from fastapi import Depends, FastAPI, Query
from fastapi.responses import HTMLResponse

from airflow_gitsync.config import GitsyncConfig
from airflow_gitsync.settings import BACKUP_PARAMS
from airflow_gitsync.ui import pages
from airflow_gitsync.ui.history import history, row_of, tag_url
from airflow_gitsync.ui.store import backup_runs

PAGE_DAYS = 400  # a page: about 13 months of daily backups
DEFAULTS = {spec.name: spec.default for spec in BACKUP_PARAMS}
UI_ROOT = "../../../"  # from /gitsync/dags/{dag_id}/backups to Airflow's UI root

app = FastAPI(title="airflow-gitsync Backups", docs_url=None, redoc_url=None, openapi_url=None)
ReadRuns = Depends(requires_access_dag(method="GET", access_entity=DagAccessEntity.RUN))


def _tag_link(conf: dict) -> pages.TagLink:
    """Links to tags in the repository of the run's git connection (only its host is read)."""
    try:
        remote = Connection.get_connection_from_secrets(
            conf.get("git_conn_id") or DEFAULTS["git_conn_id"]
        ).host
    except AirflowNotFoundException:
        remote = None
    return lambda tag: tag_url(remote, tag)


@app.get("/dags/{dag_id}/backups", response_class=HTMLResponse, dependencies=[ReadRuns])
def backups(
    dag_id: str,
    session: SessionDep,
    before: date | None = None,
    limit: Annotated[int, Query(ge=1, le=2000)] = PAGE_DAYS,
) -> str:
    """The backup history, ``limit`` runs before the date ``before`` (default: the newest)."""
    runs = backup_runs(session, dag_id, limit=limit + 1, before=before)
    page, next_older = runs[:limit], runs[limit] if len(runs) > limit else None
    through = before - timedelta(days=1) if before else datetime.now(UTC).date() - timedelta(days=1)
    result = history(
        page,
        rates=GitsyncConfig.load().rates,
        default_root=DEFAULTS["workspace_root"],
        through=through,
        older=next_older.day if next_older else None,
    )
    return pages.backups_page(
        dag_id,
        result,
        ui_root=UI_ROOT,
        tag_link=_tag_link(page[0].conf if page else {}),
        newer={"limit": limit} if before else None,
        older={"before": page[-1].day.isoformat(), "limit": limit} if next_older else None,
    )


@app.get("/dags/{dag_id}/runs/{run_id}", response_class=HTMLResponse, dependencies=[ReadRuns])
def run_summary(dag_id: str, run_id: str, session: SessionDep) -> str:
    """One run's summary as a page."""
    runs = backup_runs(session, dag_id, limit=1, run_id=run_id)
    row = row_of(runs[0], GitsyncConfig.load().rates) if runs else None
    return pages.summary_page(
        dag_id,
        row,
        run_id=run_id,
        ui_root="../" + UI_ROOT,
        tag_link=_tag_link(runs[0].conf if runs else {}),
    )
