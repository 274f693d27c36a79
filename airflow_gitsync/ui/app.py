"""The Backups view's FastAPI app, mounted by the plugin under ``/gitsync`` in Airflow's API server.

Thin: each page is one query (:mod:`airflow_gitsync.ui.store`) rendered by
:mod:`airflow_gitsync.ui.pages`. Every route needs what reading the DAG's runs needs in Airflow's
auth manager (``GET`` on the DAG's ``RUN``), from the UI's session cookie or a bearer token. Every
answer carries the pages' Content-Security-Policy (:data:`airflow_gitsync.ui.frame.CSP`); an error
is a page for a browser (it shows inside Airflow's UI) and Airflow's JSON for anything else. A DAG whose
``report`` task is not a :class:`~airflow_gitsync.operators.report.BackupReportOperator` is no
backup: its tabs say so (Airflow 3.3 shows a plugin's tabs on every DAG).

The history browser (``find``, ``notebook``, ``diff``) reads the backup repository of the DAG's newest
run (its git connection, working branch and tag format) through the API server's own blobless mirror
(:class:`~airflow_gitsync.ui.browse.BackupRepository`); ``restore`` also needs what triggering the
restore DAG needs (``POST`` on its ``RUN``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, datetime
from html import escape
from typing import Annotated, Any

from airflow.api.common.trigger_dag import trigger_dag
from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
from airflow.api_fastapi.common.dagbag import create_dag_bag
from airflow.api_fastapi.common.db.common import SessionDep
from airflow.api_fastapi.core_api.security import GetUserDep, requires_access_dag
from airflow.exceptions import AirflowNotFoundException
from airflow.models.connection import Connection
from airflow.utils.types import DagRunTriggeredByType
from fastapi import Depends, FastAPI, Form, Query, Request, Response
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException

from airflow_gitsync.compat import UTC
from airflow_gitsync.config import GitsyncConfig
from airflow_gitsync.git.runner import GitError
from airflow_gitsync.hooks.azure_devops_git import AzureDevOpsGitHook
from airflow_gitsync.operators.report import BackupReportOperator
from airflow_gitsync.params import BACKUP_PARAMS, RestoreSettings, SettingsError
from airflow_gitsync.results import TaskId
from airflow_gitsync.shards import ShardingError
from airflow_gitsync.ui import browse_pages, compare, frame, pages
from airflow_gitsync.ui.browse import FIND_WAIT, MAX_FRAGMENT, MAX_PAGE, BackupRepository, NotBackedUp
from airflow_gitsync.ui.history import PAGE_DAYS, History, history, row_of, tag_url
from airflow_gitsync.ui.store import backup_runs

MAX_PAGE_DAYS = 2000  # a page's HTML grows with its dates: 2000 make about 1.3 MB
TABLE_ROWS = 50  # rows of the table on the history page and on a page of the table alone
DEFAULTS = {spec.name: spec.default for spec in BACKUP_PARAMS}
UI_ROOT = "../../../"  # from /gitsync/dags/{dag_id}/backups to Airflow's UI root

app = FastAPI(title="airflow-gitsync Backups", docs_url=None, redoc_url=None, openapi_url=None)
ReadRuns = Depends(requires_access_dag(method="GET", access_entity=DagAccessEntity.RUN))
_dags = create_dag_bag()  # Airflow's API server's cache of deserialized DAGs
_REASONS = {
    401: "You are not signed in to Airflow, or your session has expired: sign in again and reload.",
    403: "Your Airflow role may not read this DAG's runs, or not trigger the restore DAG.",
    404: "There is no such page.",
    422: "This address has a parameter the page cannot take:",
}


@app.middleware("http")
async def _content_security_policy(request: Request, call_next: Callable[[Request], Awaitable[Response]]):
    response = await call_next(request)
    response.headers["Content-Security-Policy"] = frame.CSP
    return response


def _wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


@app.exception_handler(HTTPException)
async def _http_error(request: Request, exc: HTTPException) -> Response:
    if not _wants_html(request):
        return await http_exception_handler(request, exc)
    message = _REASONS.get(exc.status_code, str(exc.detail))
    return HTMLResponse(frame.error_page(exc.status_code, message), exc.status_code, exc.headers)


@app.exception_handler(RequestValidationError)
async def _invalid_parameter(request: Request, exc: RequestValidationError) -> Response:
    if not _wants_html(request):
        return await request_validation_exception_handler(request, exc)
    details = [f"{e['loc'][-1]}={e.get('input')!s:.40}: {e['msg']}" for e in exc.errors()]
    return HTMLResponse(frame.error_page(422, _REASONS[422], details), 422)


def _is_backup(session: Session, dag_id: str) -> bool:
    """Whether the DAG is a backup: its ``report`` task is the backup's report."""
    dag = _dags.get_latest_version_of_dag(dag_id, session=session)
    report = dag.task_dict.get(TaskId.REPORT) if dag else None
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


def _page_of(
    session: Session, dag_id: str, before: date | None, limit: int
) -> tuple[History, dict[str, Any]]:
    """``limit`` dates of the history before ``before``, and the arguments every history page takes."""
    result = _history(session, dag_id, before, limit)
    return result, {
        "ui_root": UI_ROOT,
        "tag_link": _tag_link(result.rows[0].run.conf if result.rows else {}),
        "newer": {"limit": limit} if before else None,
        "older": {"before": result.older.isoformat(), "limit": limit} if result.older else None,
    }


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
    result, arguments = _page_of(session, dag_id, before, limit)
    return pages.backups_page(dag_id, result, rows=TABLE_ROWS, **arguments)


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
    result, arguments = _page_of(session, dag_id, before, limit)
    return pages.table_page(dag_id, result, **arguments)


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


RESTORE_DAG_ID = "databricks_git_restore"
_repositories: dict[tuple[str, str, str], BackupRepository] = {}


def _repository(session: Session, dag_id: str) -> BackupRepository:
    """The browser of the backup repository the DAG's newest run wrote (the API server's own mirror,
    made on the first request: commits and trees of the whole history, no blob)."""
    if not _is_backup(session, dag_id):
        raise HTTPException(404, f"{dag_id} is not a backup DAG")
    runs = backup_runs(session, dag_id, limit=1)
    conf = {**DEFAULTS, **{k: v for k, v in (runs[0].conf if runs else {}).items() if v}}
    config = GitsyncConfig.load()
    hook = AzureDevOpsGitHook(azure_devops_git_conn_id=conf["git_conn_id"])
    key = (hook.remote_url, conf["working_branch"], conf["tag_format"])
    if key not in _repositories:
        mirror = hook.get_mirror(config.browser_cache_dir)
        _repositories[key] = BackupRepository(mirror, key[1], key[2], config.browser_fetch_seconds)
    return _repositories[key]


def _reading(session: Session, dag_id: str, read: Callable[[BackupRepository], str]) -> str:
    """``read(repository)``, or a page saying there is no backup yet; a first fetch that fails is a 503."""
    try:
        repository = _repository(session, dag_id)
        text = read(repository)
    except NotBackedUp as exc:
        return frame.error_page(404, str(exc))
    except ShardingError:
        return frame.error_page(
            501, "The history browser reads one backup repository; this DAG's git connection has one per "
            "year (ADR 0007). Browse a year's repository in Azure DevOps, or restore from a tag.",
        )  # fmt: skip
    except GitError as exc:
        raise HTTPException(503, f"the backup repository cannot be fetched: {exc}") from exc
    if repository.fetch_error:
        return text.replace("<h1>", f'<p class="muted">Showing the repository as last fetched: '
                            f"{escape(repository.fetch_error[:300])}</p><h1>", 1)  # fmt: skip
    return text


PENDING = (
    " Notebooks deleted since are still being read from the backups' history (a first search since"
    " the API server started): search again in a few seconds to include them."
)
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE)]
Offset = Annotated[int, Query(ge=0, le=10**6)]
RepoPath = Annotated[str, Query(min_length=1, max_length=4096)]


@app.get("/dags/{dag_id}/find", response_class=HTMLResponse, dependencies=[ReadRuns])
def find(
    dag_id: str,
    session: SessionDep,
    q: Annotated[str, Query(max_length=MAX_FRAGMENT)] = "",
    offset: Offset = 0,
    limit: Limit = 50,
    part: bool = False,
) -> str:
    """Notebooks and files whose path holds ``q``, in the newest backup, then deleted since; ``part``:
    the results alone (what the page's script fetches while the user types)."""

    def read(repository: BackupRepository) -> str:
        result = repository.find(q.strip(), offset=offset, limit=limit, wait=FIND_WAIT)
        note = PENDING if result.deleted_pending else ""
        if part:
            return browse_pages.results_html(q.strip(), result, limit, note)
        return browse_pages.find_page(dag_id, q, result, limit, note)

    return _reading(session, dag_id, read)


@app.get("/dags/{dag_id}/notebook", response_class=HTMLResponse, dependencies=[ReadRuns])
def notebook(dag_id: str, session: SessionDep, path: RepoPath, offset: Offset = 0, limit: Limit = 25) -> str:
    """The versions of one repo path: the backups in which its content changed."""
    return _reading(
        session,
        dag_id,
        lambda r: browse_pages.notebook_page(
            dag_id, path, r.history(path, offset=offset, limit=limit), limit, RESTORE_DAG_ID
        ),
    )


Ref = Annotated[str, Query(min_length=1, max_length=255)]


@app.get("/dags/{dag_id}/diff", response_class=HTMLResponse, dependencies=[ReadRuns])
def diff(
    dag_id: str,
    session: SessionDep,
    path: RepoPath,
    a: Ref,
    b: Ref,
    view: Annotated[str, Query(pattern="^(unified|split)$")] = "split",
) -> str:
    """``path`` at the commit or backup tag ``a`` against ``b``; each side bounded (:mod:`compare`)."""

    def read(repository: BackupRepository) -> str:
        commits = [repository.commit_of(ref) for ref in (a, b)]
        if None in commits:
            raise HTTPException(404, "a and b must be commits or backup tags of the backup repository")
        old, new = (repository.read(commit, path) for commit in commits)
        return browse_pages.diff_page(dag_id, path, a, b, compare.compare(old, new), view == "split")

    return _reading(session, dag_id, read)


@app.post("/dags/{dag_id}/restore", response_class=HTMLResponse, dependencies=[ReadRuns])
def restore(
    dag_id: str,
    request: Request,
    user: GetUserDep,
    session: SessionDep,
    path: Annotated[str, Form(min_length=1, max_length=4096)],
    ref: Annotated[str, Form(min_length=1, max_length=255)],
    target_root: Annotated[str, Form(min_length=1, max_length=4096)],
    restore_dag_id: Annotated[str, Form(min_length=1, max_length=250)] = RESTORE_DAG_ID,
) -> str:
    """Trigger the restore DAG for ``path`` at ``ref`` below ``target_root``: for a user who may
    trigger it (403 otherwise), and for a path that the ref holds."""
    requires_access_dag(method="POST", access_entity=DagAccessEntity.RUN, param_dag_id=restore_dag_id)(
        request, user
    )
    conf = {"ref": ref, "paths": [path], "target_root": target_root}
    try:
        RestoreSettings.from_params(conf)
    except SettingsError as exc:
        raise HTTPException(422, str(exc)) from exc

    def check(repository: BackupRepository) -> str:
        commit = repository.commit_of(ref)
        if commit is None or not repository.mirror.ls_tree(commit, [path]):
            raise HTTPException(404, f"{ref} holds no {path}")
        return commit

    _reading(session, dag_id, check)
    run = trigger_dag(
        restore_dag_id,
        triggered_by=DagRunTriggeredByType.UI,
        triggering_user_name=user.get_name(),
        conf=conf,
        session=session,
    )
    if run is None:
        raise HTTPException(404, f"no DAG {restore_dag_id}")
    return browse_pages.restore_started_page(path, ref, target_root, restore_dag_id, run.run_id, UI_ROOT)
