"""The Backups view's FastAPI app, mounted by the plugin under ``/gitsync`` in Airflow's API server.

Thin: each page is one query (:mod:`airflow_gitsync.ui.store`) rendered by
:mod:`airflow_gitsync.ui.pages`. Every route needs what reading the DAG's runs needs in Airflow's
auth manager (``GET`` on the DAG's ``RUN``), from the UI's session cookie or a bearer token. Every
answer carries the pages' Content-Security-Policy (:data:`airflow_gitsync.ui.pages.CSP`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, datetime
from typing import Annotated

from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
from airflow.api_fastapi.common.db.common import SessionDep
from airflow.api_fastapi.core_api.security import requires_access_dag
from airflow.exceptions import AirflowNotFoundException
from airflow.models.connection import Connection
from fastapi import Depends, FastAPI, Query, Request, Response
from fastapi.responses import HTMLResponse

from airflow_gitsync.compat import UTC
from airflow_gitsync.config import GitsyncConfig
from airflow_gitsync.settings import BACKUP_PARAMS
from airflow_gitsync.ui import pages
from airflow_gitsync.ui.history import PAGE_DAYS, history, row_of, tag_url
from airflow_gitsync.ui.store import backup_runs

MAX_PAGE_DAYS = 2000  # a page's HTML grows with its dates: 2000 make about 5 MB
DEFAULTS = {spec.name: spec.default for spec in BACKUP_PARAMS}
UI_ROOT = "../../../"  # from /gitsync/dags/{dag_id}/backups to Airflow's UI root

app = FastAPI(title="airflow-gitsync Backups", docs_url=None, redoc_url=None, openapi_url=None)
ReadRuns = Depends(requires_access_dag(method="GET", access_entity=DagAccessEntity.RUN))


@app.middleware("http")
async def _content_security_policy(request: Request, call_next: Callable[[Request], Awaitable[Response]]):
    response = await call_next(request)
    response.headers["Content-Security-Policy"] = pages.CSP
    return response


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
    before: Annotated[date | None, Query(gt=date.min)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_DAYS)] = PAGE_DAYS,
) -> str:
    """The backup history before the date ``before`` (default: the newest), ``limit`` dates a page."""
    runs = backup_runs(session, dag_id, limit=limit + 1, before=before)
    today = datetime.now(UTC).date()
    result = history(
        runs,
        rates=GitsyncConfig.load().rates,
        default_root=DEFAULTS["workspace_root"],
        until=min(before, today) if before else today,
        days=limit,
        more=len(runs) > limit,
    )
    return pages.backups_page(
        dag_id,
        result,
        ui_root=UI_ROOT,
        tag_link=_tag_link(result.rows[0].run.conf if result.rows else {}),
        newer={"limit": limit} if before else None,
        older={"before": result.older.isoformat(), "limit": limit} if result.older else None,
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
