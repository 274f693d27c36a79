"""The Backups view's FastAPI app, mounted by the plugin under ``/gitsync`` in Airflow's API server.

Thin: each page is one query (:mod:`airflow_gitsync.ui.store`) rendered by
:mod:`airflow_gitsync.ui.pages`. Every route needs what reading the DAG's runs needs in Airflow's
auth manager (``GET`` on the DAG's ``RUN``), from the UI's session cookie or a bearer token. Every
answer carries the pages' Content-Security-Policy (:data:`airflow_gitsync.ui.pages.CSP`); an error
is a page for a browser (it shows inside Airflow's UI) and Airflow's JSON for anything else. A DAG whose
``report`` task is not a :class:`~airflow_gitsync.operators.report.BackupReportOperator` is no
backup: its tabs say so (Airflow 3.3 shows a plugin's tabs on every DAG).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, datetime
from typing import Annotated

from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
from airflow.api_fastapi.common.dagbag import create_dag_bag
from airflow.api_fastapi.common.db.common import SessionDep
from airflow.api_fastapi.core_api.security import requires_access_dag
from airflow.exceptions import AirflowNotFoundException
from airflow.models.connection import Connection
from fastapi import Depends, FastAPI, Query, Request, Response
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException

from airflow_gitsync.compat import UTC
from airflow_gitsync.config import GitsyncConfig
from airflow_gitsync.operators.report import BackupReportOperator
from airflow_gitsync.settings import BACKUP_PARAMS
from airflow_gitsync.ui import pages
from airflow_gitsync.ui.history import PAGE_DAYS, History, history, row_of, tag_url
from airflow_gitsync.ui.store import REPORT_TASK, backup_runs

MAX_PAGE_DAYS = 2000  # a page's HTML grows with its dates: 2000 make about 1.3 MB
TABLE_ROWS = 50  # rows of the table on the history page and on a page of the table alone
DEFAULTS = {spec.name: spec.default for spec in BACKUP_PARAMS}
UI_ROOT = "../../../"  # from /gitsync/dags/{dag_id}/backups to Airflow's UI root

app = FastAPI(title="airflow-gitsync Backups", docs_url=None, redoc_url=None, openapi_url=None)
ReadRuns = Depends(requires_access_dag(method="GET", access_entity=DagAccessEntity.RUN))
_dags = create_dag_bag()  # Airflow's API server's cache of deserialized DAGs
_REASONS = {
    401: "You are not signed in to Airflow, or your session has expired: sign in again and reload.",
    403: "Your Airflow role may not read this DAG's runs.",
    404: "There is no such page.",
    422: "This address has a parameter the page cannot take:",
}


@app.middleware("http")
async def _content_security_policy(request: Request, call_next: Callable[[Request], Awaitable[Response]]):
    response = await call_next(request)
    response.headers["Content-Security-Policy"] = pages.CSP
    return response


def _wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


@app.exception_handler(HTTPException)
async def _http_error(request: Request, exc: HTTPException) -> Response:
    if not _wants_html(request):
        return await http_exception_handler(request, exc)
    message = _REASONS.get(exc.status_code, str(exc.detail))
    return HTMLResponse(pages.error_page(exc.status_code, message), exc.status_code, exc.headers)


@app.exception_handler(RequestValidationError)
async def _invalid_parameter(request: Request, exc: RequestValidationError) -> Response:
    if not _wants_html(request):
        return await request_validation_exception_handler(request, exc)
    details = [f"{e['loc'][-1]}={e.get('input')!s:.40}: {e['msg']}" for e in exc.errors()]
    return HTMLResponse(pages.error_page(422, _REASONS[422], details), 422)


def _is_backup(session: Session, dag_id: str) -> bool:
    """Whether the DAG is a backup: its ``report`` task is the backup's report."""
    dag = _dags.get_latest_version_of_dag(dag_id, session=session)
    report = dag.task_dict.get(REPORT_TASK) if dag else None
    return getattr(report, "task_type", None) == BackupReportOperator.__name__


def _history(session: Session, dag_id: str, before: date | None, limit: int) -> History:
    runs = backup_runs(session, dag_id, limit=limit + 1, before=before)
    today = datetime.now(UTC).date()
    return history(
        runs,
        rates=GitsyncConfig.load().rates,
        default_root=DEFAULTS["workspace_root"],
        until=min(before, today) if before else today,
        days=limit,
        more=len(runs) > limit,
    )


def _tag_link(conf: dict) -> pages.TagLink:
    """Links to tags in the repository of the run's git connection (only its host is read)."""
    try:
        remote = Connection.get_connection_from_secrets(
            conf.get("git_conn_id") or DEFAULTS["git_conn_id"]
        ).host
    except AirflowNotFoundException:
        remote = None
    return lambda tag: tag_url(remote, tag)


Before = Annotated[date | None, Query(gt=date.min)]


@app.get("/dags/{dag_id}/backups", response_class=HTMLResponse, dependencies=[ReadRuns])
def backups(
    dag_id: str,
    session: SessionDep,
    before: Before = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_DAYS)] = PAGE_DAYS,
) -> str:
    """The backup history before the date ``before`` (default: the newest), ``limit`` dates a page."""
    if not _is_backup(session, dag_id):
        return pages.not_a_backup_page(dag_id, ui_root=UI_ROOT)
    result = _history(session, dag_id, before, limit)
    return pages.backups_page(
        dag_id,
        result,
        ui_root=UI_ROOT,
        tag_link=_tag_link(result.rows[0].run.conf if result.rows else {}),
        newer={"limit": limit} if before else None,
        older={"before": result.older.isoformat(), "limit": limit} if result.older else None,
        rows=TABLE_ROWS,
    )


@app.get("/dags/{dag_id}/table", response_class=HTMLResponse, dependencies=[ReadRuns])
def table(
    dag_id: str,
    session: SessionDep,
    before: Before = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_DAYS)] = TABLE_ROWS,
) -> str:
    """The table of backup dates alone, ``limit`` dates before ``before`` a page."""
    if not _is_backup(session, dag_id):
        return pages.not_a_backup_page(dag_id, ui_root=UI_ROOT)
    result = _history(session, dag_id, before, limit)
    return pages.table_page(
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
    if not _is_backup(session, dag_id):
        return pages.not_a_backup_page(dag_id, ui_root="../" + UI_ROOT)
    runs = backup_runs(session, dag_id, limit=1, run_id=run_id)
    row = row_of(runs[0], GitsyncConfig.load().rates) if runs else None
    return pages.summary_page(
        dag_id,
        row,
        run_id=run_id,
        ui_root="../" + UI_ROOT,
        tag_link=_tag_link(runs[0].conf if runs else {}),
    )
