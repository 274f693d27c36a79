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
restore DAG needs (``POST`` on its ``RUN``). With a repository per year (ADR 0007) a path is read in
its year's repository (or ``other``'s), a search reads every repository the tags' ``Repositories:``
lines name, and a notebook's versions go on in the single repository of before the switch
(``unsharded_url``), which a version's links name as ``repo=before``: no URL comes from a request.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
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
from airflow_gitsync.git.runner import GitError, GitRemoteNotFound, redact_url
from airflow_gitsync.hooks.azure_devops_git import AzureDevOpsGitHook
from airflow_gitsync.operators.report import BackupReportOperator
from airflow_gitsync.params import BACKUP_PARAMS, RestoreSettings, SettingsError
from airflow_gitsync.results import TaskId
from airflow_gitsync.shards import OTHER, ShardingError, shard_of
from airflow_gitsync.ui import browse_pages, compare, frame, pages
from airflow_gitsync.ui.browse import (
    FIND_WAIT,
    MAX_FRAGMENT,
    MAX_PAGE,
    BackupRepository,
    FindResult,
    Found,
    HistoryPage,
    NotBackedUp,
)
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
MAX_SHARDS = 200  # repositories one search reads: a hostile tag message cannot make it read more
SHARD, BEFORE = "shard", "before"  # which repository a version is from: the path's, or the single one
_repositories: dict[tuple[str, str, str], BackupRepository] = {}
_missing: dict[str, float] = {}  # URL: when a repository of a shard was found not to exist
_cache_lock = threading.Lock()


class _Deployment:
    """The backup repositories the DAG's newest run writes to (its git connection, working branch and
    tag format): one, or one per year and ``other`` (ADR 0007) with the single repository of before
    the switch, if any. Hands out the API server's cached browsers, and remembers those it handed out
    (their fetch errors are shown)."""

    def __init__(self, hook: AzureDevOpsGitHook, branch: str, tag_format: str, config: GitsyncConfig):
        self.hook, self.branch, self.tag_format, self.config = hook, branch, tag_format, config
        self.sharded = hook.sharded
        self.read: list[BackupRepository] = []

    def repository(self, url: str | None = None) -> BackupRepository:
        """The browser of the repository at ``url`` (default: the connection's one), made on its first
        request: commits and trees of the whole history, no blob. A shard's repository must exist:
        checked with one ``ls-remote`` before a mirror is made (then at most every fetch interval),
        so no path makes a mirror of a year that has no repository."""
        key = (url or self.hook.repository_url(), self.branch, self.tag_format)
        with _cache_lock:
            repository = _repositories.get(key)
            missing_since = _missing.get(key[0])
        if repository is None:
            now = time.monotonic()
            if (
                url is not None
                and missing_since is not None
                and now - missing_since < self.config.browser_fetch_seconds
            ):
                raise GitRemoteNotFound(f"no repository at {redact_url(url)}")
            if url is not None:
                try:
                    self.hook.remote_refs(url, f"refs/heads/{self.branch}")
                except GitRemoteNotFound:
                    with _cache_lock:
                        _missing[url] = now
                    raise
            mirror = self.hook.get_mirror(self.config.browser_cache_dir, url)
            with _cache_lock:
                repository = _repositories.setdefault(
                    key,
                    BackupRepository(mirror, self.branch, self.tag_format, self.config.browser_fetch_seconds),
                )
        self.read.append(repository)
        return repository

    def of_path(self, path: str, repo: str = SHARD) -> BackupRepository:
        """The repository of a repo path: the one repository; with one per year the path's year's
        (``shard_of`` its first component: four digits or ``other``, never a name from the request),
        or the single repository of before the switch (``repo`` is ``before``)."""
        if repo == BEFORE:
            if not self.sharded or not (url := self.hook.unsharded_url):
                raise HTTPException(404, "this backup has no repository of before a switch to one per year")
            return self.repository(url)
        if not self.sharded:
            return self.repository()
        return self.repository(self.hook.repository_url(shard_of(path.split("/")[0])))

    def before(self) -> BackupRepository | None:
        """The single repository of before the switch to one per year, if the connection names it."""
        url = self.hook.unsharded_url if self.sharded else None
        return self.repository(url) if url else None

    def shards(self) -> tuple[list[tuple[str, BackupRepository]], list[str]]:
        """The repositories of every shard (sorted) one can read, and why the others cannot be: starting
        from ``other`` and this and last year's, those the newest tag of each names (``Repositories:``),
        at most :data:`MAX_SHARDS`, read side by side. A year guessed that no tag names is no error."""
        year = datetime.now(UTC).year
        guessed = {OTHER, str(year), str(year - 1)}
        pending, seen, named = set(guessed), set(), set()
        found: dict[str, BackupRepository] = {}
        failed: dict[str, str] = {}

        def one(shard: str) -> tuple[str, BackupRepository | None, frozenset[str], str | None]:
            try:
                repository = self.repository(self.hook.repository_url(shard))
                return shard, repository, repository.registry(), None
            except NotBackedUp:  # a repository with no backup yet holds nothing to find
                return shard, None, frozenset(), None
            except GitError as exc:
                return shard, None, frozenset(), str(exc)

        with ThreadPoolExecutor(8, thread_name_prefix="gitsync-browse") as pool:
            while pending and len(seen) < MAX_SHARDS:
                wave = sorted(pending)[: MAX_SHARDS - len(seen)]
                seen |= set(wave)
                for shard, repository, registry, error in pool.map(one, wave):
                    if repository is not None:
                        found[shard] = repository
                        named |= registry
                    elif error:
                        failed[shard] = error
                pending = named - seen
        errors = [f"{s}: {e[:200]}" for s, e in sorted(failed.items()) if s not in guessed or s in named]
        return sorted(found.items()), errors


def _deployment(session: Session, dag_id: str) -> _Deployment:
    """The backup repositories of the DAG's newest run (404: not a backup DAG)."""
    if not _is_backup(session, dag_id):
        raise HTTPException(404, f"{dag_id} is not a backup DAG")
    runs = backup_runs(session, dag_id, limit=1)
    conf = {**DEFAULTS, **{k: v for k, v in (runs[0].conf if runs else {}).items() if v}}
    hook = AzureDevOpsGitHook(azure_devops_git_conn_id=conf["git_conn_id"])
    return _Deployment(hook, conf["working_branch"], conf["tag_format"], GitsyncConfig.load())


def _reading(session: Session, dag_id: str, read: Callable[[_Deployment], str]) -> str:
    """``read(deployment)``, or a page saying there is no backup yet; a first fetch that fails (or a
    repository that does not exist) is a 503. A repository read as last fetched is said so."""
    try:
        deployment = _deployment(session, dag_id)
        text = read(deployment)
    except NotBackedUp as exc:
        return frame.error_page(404, str(exc))
    except ShardingError as exc:
        return frame.error_page(503, f"The backup's git connection cannot be read: {str(exc)[:300]}")
    except GitError as exc:
        raise HTTPException(503, f"the backup repository cannot be fetched: {exc}") from exc
    errors = list(dict.fromkeys(r.fetch_error for r in deployment.read if r.fetch_error))
    if errors:
        more = f" (and {len(errors) - 1} more repositories)" if len(errors) > 1 else ""
        return text.replace("<h1>", f'<p class="muted">Showing the repository as last fetched: '
                            f"{escape(errors[0][:300])}{more}</p><h1>", 1)  # fmt: skip
    return text


def _find_shards(
    deployment: _Deployment, fragment: str, offset: int, limit: int
) -> tuple[FindResult, list[str]]:
    """A search of every repository of a deployment with one per year, and why some could not be
    read. The results are those of each repository in turn (years, then ``other``), each in its own
    order (the newest backup's, then deleted since); no repository builds more than ``limit``
    results. Each is counted first, side by side (the deleted paths' readings start together)."""
    shards, unread = deployment.shards()
    if not shards:
        if unread:
            raise HTTPException(503, "no backup repository can be fetched: " + "; ".join(unread)[:600])
        raise NotBackedUp("no repository of this backup has a backup on its working branch yet")
    with ThreadPoolExecutor(8, thread_name_prefix="gitsync-find") as pool:
        counts = list(pool.map(lambda item: item[1].find(fragment, limit=0, wait=FIND_WAIT), shards))
    items: list[Found] = []
    total, pending = 0, False
    for (_, repository), counted in zip(shards, counts, strict=True):
        result = counted
        if total + counted.total > offset and len(items) < limit:
            result = repository.find(
                fragment, offset=max(0, offset - total), limit=limit - len(items), wait=FIND_WAIT
            )
            items += result.items[: limit - len(items)]
        total += result.total
        pending |= result.deleted_pending
    return FindResult(items, total, offset, pending), unread


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

    def read(deployment: _Deployment) -> str:
        if deployment.sharded:
            result, unread = _find_shards(deployment, q.strip(), offset, limit)
        else:
            result, unread = (
                deployment.repository().find(q.strip(), offset=offset, limit=limit, wait=FIND_WAIT),
                [],
            )
        note = PENDING if result.deleted_pending else ""
        if unread:
            note += escape(
                f" Not searched: {len(unread)} repositories that cannot be read: {'; '.join(unread)}"[:400]
            )
        if part:
            return browse_pages.results_html(q.strip(), result, limit, note)
        return browse_pages.find_page(dag_id, q, result, limit, note)

    return _reading(session, dag_id, read)


Repo = Annotated[str, Query(pattern=f"^({SHARD}|{BEFORE})$")]


@app.get("/dags/{dag_id}/notebook", response_class=HTMLResponse, dependencies=[ReadRuns])
def notebook(
    dag_id: str,
    session: SessionDep,
    path: RepoPath,
    offset: Offset = 0,
    limit: Limit = 25,
    repo: Repo = SHARD,
) -> str:
    """The versions of one repo path: the backups in which its content changed. With a repository per
    year and the single one of before the switch: its year's versions, then (once they are all shown)
    those of before the switch (``repo=before``: those alone, paged)."""

    def read(deployment: _Deployment) -> str:
        history = deployment.of_path(path, repo).history(path, offset=offset, limit=limit)
        if repo == BEFORE or history.more:
            return browse_pages.notebook_page(
                dag_id, path, history, limit, RESTORE_DAG_ID, repo=repo if deployment.sharded else None
            )
        before: HistoryPage | str | None = None
        try:
            if (single := deployment.before()) is not None:
                before = single.history(path, limit=limit)
        except (GitError, NotBackedUp) as exc:
            before = f"The repository of before the switch cannot be read: {str(exc)[:300]}"
        return browse_pages.notebook_page(
            dag_id,
            path,
            history,
            limit,
            RESTORE_DAG_ID,
            before=before,
            repo=SHARD if deployment.sharded else None,
        )

    return _reading(session, dag_id, read)


Ref = Annotated[str, Query(min_length=1, max_length=255)]


@app.get("/dags/{dag_id}/diff", response_class=HTMLResponse, dependencies=[ReadRuns])
def diff(
    dag_id: str,
    session: SessionDep,
    path: RepoPath,
    a: Ref,
    b: Ref,
    view: Annotated[str, Query(pattern="^(unified|split)$")] = "split",
    repo: Repo = SHARD,
) -> str:
    """``path`` at the commit or backup tag ``a`` against ``b``; each side bounded (:mod:`compare`);
    both from the path's repository, or (``repo=before``) from the single one of before the switch."""

    def read(deployment: _Deployment) -> str:
        repository = deployment.of_path(path, repo)
        repository.refresh()  # a first request may be this one: the mirror then has no tag yet
        commits = [repository.commit_of(ref) for ref in (a, b)]
        if None in commits:
            raise HTTPException(404, "a and b must be commits or backup tags of the backup repository")
        old, new = (repository.read(commit, path) for commit in commits)
        return browse_pages.diff_page(
            dag_id,
            path,
            a,
            b,
            compare.compare(old, new),
            view == "split",
            repo if deployment.sharded else None,
        )

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
    repo: Annotated[str, Form(pattern=f"^({SHARD}|{BEFORE})$")] = SHARD,
) -> str:
    """Trigger the restore DAG for ``path`` at ``ref`` below ``target_root``: for a user who may
    trigger it (403 otherwise), and for a path that the ref holds, in the path's repository or
    (``repo=before``) at a backup tag of the single one of before the switch, which is where the
    restore DAG reads such a tag."""
    requires_access_dag(method="POST", access_entity=DagAccessEntity.RUN, param_dag_id=restore_dag_id)(
        request, user
    )
    conf = {"ref": ref, "paths": [path], "target_root": target_root}
    try:
        RestoreSettings.from_params(conf)
    except SettingsError as exc:
        raise HTTPException(422, str(exc)) from exc

    def check(deployment: _Deployment) -> str:
        repository = deployment.of_path(path, repo)
        repository.refresh()
        if repo == BEFORE and not ref.startswith(repository.tag_prefix):
            raise HTTPException(404, "from before the switch, restore a backup tag")
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
