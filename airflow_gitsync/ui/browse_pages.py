"""The history browser's HTML: find, a notebook's versions, a diff, a restore started. Pure.

Every name from the repository is escaped where it is inserted (text with :func:`html.escape`, URLs
built with ``urlencode``); links are relative to ``/gitsync/dags/<dag_id>/``. The find page's one
script (:data:`~airflow_gitsync.ui.frame.SCRIPT`, allowed by its hash) fetches the results while
the user types; without it the form's GET does the same. With a repository per year a version's
links and forms name the repository it is from as ``repo`` (``shard`` or ``before``), never a URL.
"""

from __future__ import annotations

from html import escape
from urllib.parse import quote, urlencode

from airflow_gitsync.backup_report import human_size as size
from airflow_gitsync.ui import compare
from airflow_gitsync.ui.browse import FindResult, Found, HistoryPage, Version
from airflow_gitsync.ui.catalog import Backup
from airflow_gitsync.ui.frame import SCRIPT, page

BEFORE = "before"  # a version of the single repository of before the switch to one per year


def _href(route: str, **query: object) -> str:
    return escape(f"{route}?{urlencode({k: v for k, v in query.items() if v is not None})}")


def _backup(backup: Backup | None) -> str:
    return (
        f"{escape(backup.day)} <span class='muted'>({escape(backup.tag)})</span>"
        if backup
        else "not yet tagged"
    )


def _found_row(found: Found) -> str:
    link = f'<a href="{_href("notebook", path=found.repo_path)}">{escape(found.repo_path)}</a>'
    if found.deleted:
        last = f"last in the backup of {_backup(found.last)}" if found.last else "in no tagged backup"
        state = f'<span class="state deleted">deleted</span> <span class="muted">{last}</span>'
    else:
        state = f'<span class="muted">{escape(found.workspace_path or "")}</span>'
    return f'<tr><td class="l">{link}</td><td class="l">{state}</td></tr>'


def results_html(query: str, result: FindResult, limit: int, note: str = "") -> str:
    """The results of a search: a table and the pager (what the script puts in ``#found``)."""
    if not query:
        return '<p class="muted">Type part of a notebook\'s path or name.</p>'
    if not result.items:
        return f"<p>Nothing matches <code>{escape(query)}</code>.{note}</p>"
    end = result.offset + len(result.items)
    pager = " · ".join(
        f'<a href="{_href("find", q=query, offset=max(0, offset), limit=limit)}">{label}</a>'
        for label, offset, shown in (
            ("previous", result.offset - limit, result.offset > 0),
            ("next", end, end < result.total),
        )
        if shown
    )
    rows = "".join(_found_row(f) for f in result.items)
    return (
        f'<p class="muted">{result.offset + 1:,}-{end:,} of {result.total:,}.{note} {pager}</p>'
        f'<table id="results"><tbody>{rows}</tbody></table>'
    )


def find_page(dag_id: str, query: str, result: FindResult, limit: int, note: str = "") -> str:
    title = f"Find a notebook in the backups of {dag_id}"
    return page(
        title,
        f'<h1>{escape(title)}</h1><p><a href="backups">all backups</a></p>'
        '<form method="get" action="find"><input type="search" id="q" name="q" autocomplete="off" autofocus '
        f'placeholder="part of a path or name" maxlength="200" value="{escape(query)}"> '
        "<button>Find</button></form>"
        f'<div id="found">{results_html(query, result, limit, note)}</div><script>{SCRIPT}</script>',
    )


def _version_row(
    path: str, version: Version, older: Version | None, restore_dag: str, repo: str | None = None
) -> str:
    """A version's row; ``repo`` (``shard`` or ``before``, None: one repository) goes with its links.
    Before the switch to a repository per year only a backup tag is offered to restore: that is what
    the restore DAG looks for in the single repository."""
    tagged = bool(version.backup and version.backup.commit == version.commit)
    ref = version.backup.tag if version.backup and tagged else version.commit
    diff = (
        f'<a href="{_href("diff", path=path, a=older.commit, b=version.commit, repo=repo)}">diff with the '
        "previous</a>"
        if older and older.blob and version.blob
        else ""
    )
    restore = ""
    if version.blob and (tagged or repo != BEFORE):
        day = version.backup.day if version.backup else version.when.date().isoformat()
        which = f'<input type="hidden" name="repo" value="{escape(repo)}">' if repo else ""
        restore = (
            f'<form class="inline" method="post" action="restore">'
            f'<input type="hidden" name="path" value="{escape(path)}">'
            f'<input type="hidden" name="ref" value="{escape(ref)}">'
            f'<input type="hidden" name="restore_dag_id" value="{escape(restore_dag)}">{which}'
            f'<input name="target_root" value="/Restored/{escape(day)}" size="22" aria-label="restore into"> '
            "<button>Restore this version</button></form>"
        )
    status = {"A": "added", "M": "changed", "D": "deleted"}.get(version.status, version.status)
    return (
        f'<tr data-commit="{escape(version.commit)}"><td class="l">{_backup(version.backup)}</td>'
        f'<td class="l">{escape(status)}</td><td>{"" if version.size is None else size(version.size)}</td>'
        f'<td class="l"><code>{escape(version.commit[:10])}</code> {escape(version.author)}: '
        f"{escape(version.subject)} <span class='muted'>{version.when:%Y-%m-%d %H:%M} UTC</span></td>"
        f'<td class="l">{diff}</td><td class="l">{restore}</td></tr>'
    )


def _versions(
    path: str, history: HistoryPage, limit: int, restore_dag: str, repo: str | None, table: str
) -> str:
    """A page of versions as a table (its id ``table``) and its pager."""
    versions = history.versions
    rows = "".join(
        _version_row(path, v, versions[n + 1] if n + 1 < len(versions) else None, restore_dag, repo)
        for n, v in enumerate(versions)
    )
    pager = " · ".join(
        f'<a href="{_href("notebook", path=path, offset=max(0, offset), limit=limit, repo=repo)}">{label}</a>'
        for label, offset, shown in (
            ("newer", history.offset - limit, history.offset > 0),
            ("older", history.offset + limit, history.more),
        )
        if shown
    )
    return (
        f'<table id="{table}" class="wide"><thead><tr>'
        '<th class="l">backup</th><th class="l">change</th><th>size</th><th class="l">commit</th><th></th>'
        f"<th></th></tr></thead><tbody>{rows}</tbody></table><p>{pager}</p>"
    )


BEFORE_HEAD = "<h2>Before the switch to a repository per year</h2>"


def notebook_page(
    dag_id: str,
    path: str,
    history: HistoryPage,
    limit: int,
    restore_dag: str,
    before: HistoryPage | str | None = None,
    repo: str | None = None,
) -> str:
    """A path's versions, newest first: the backup that brought each, its size, its commit, a diff
    with the one before and a form restoring it. With a repository per year, ``repo`` says which
    repository ``history`` is from (``shard``: the path's year's; ``before``: the single repository
    of before the switch), and ``before`` is the first page of the latter's versions shown below (or
    why it cannot be read)."""
    title = path.rpartition("/")[2] or path
    head = (
        f"<h1>{escape(title)}</h1><p><code>{escape(path)}</code> · "
        f'<a href="find">find another</a> · <a href="backups">all backups</a></p>'
    )
    if isinstance(before, HistoryPage) and not before.versions:
        before = None
    if not history.versions and before is None:
        return page(title, f"{head}<p>No backup holds this path.</p>")
    about = (
        "<p class='muted'>The backups in which its content changed, newest "
        "first. Restoring writes this version below the folder given (its repo path under it) with the "
        f"restore DAG {escape(restore_dag)}.</p>"
    )
    if repo == BEFORE:
        newer = f'<p><a href="{_href("notebook", path=path)}">the versions since the switch</a></p>'
        body = f"{BEFORE_HEAD}{about}{_versions(path, history, limit, restore_dag, repo, 'versions')}{newer}"
        return page(title, f"{head}{body}")
    main = (
        _versions(path, history, limit, restore_dag, repo, "versions")
        if history.versions
        else "<p>No backup since the switch to a repository per year holds this path.</p>"
    )
    body = f"{head}<h2>Versions</h2>{about}{main}"
    if isinstance(before, str):
        body += f"{BEFORE_HEAD}<p>{escape(before)}</p>"
    elif before is not None:
        body += BEFORE_HEAD + _versions(path, before, limit, restore_dag, BEFORE, "before")
    return page(title, body)


def diff_page(
    dag_id: str,
    path: str,
    old: str,
    new: str,
    result: compare.Comparison,
    split: bool,
    repo: str | None = None,
) -> str:
    """``old`` against ``new``; ``repo`` (``shard`` or ``before``) names the repository of both."""
    title = f"{path.rpartition('/')[2]}: {old[:10]} → {new[:10]}"
    other = _href("diff", path=path, a=old, b=new, view="unified" if split else "split", repo=repo)
    versions = _href("notebook", path=path, repo=repo if repo == BEFORE else None)
    head = (
        f"<h1>{escape(title)}</h1><p><code>{escape(path)}</code> · "
        f'<a href="{versions}">versions</a> · '
        f'<a href="{other}">{"unified" if split else "side by side"}</a></p>'
    )
    if result.too_large:
        return page(title, f"{head}<p>Not compared here: {escape(result.too_large)}.</p>")
    cut = (
        f" The first {compare.MAX_ROWS:,} rows are shown, {result.cut:,} more are not." if result.cut else ""
    )
    table = compare.split_html(result) if split else compare.unified_html(result)
    return page(
        title,
        f"{head}<p class='muted'>{result.added:,} lines added, {result.removed:,} removed.{cut}</p>"
        f"{table if result.rows else '<p>The two versions are the same.</p>'}",
    )


def restore_started_page(
    path: str, ref: str, target_root: str, dag_id: str, run_id: str, ui_root: str
) -> str:
    """Where the restore run is: a link to it in the grid."""
    title = f"Restoring {path.rpartition('/')[2]}"
    grid = f"{ui_root}dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}"
    return page(
        title,
        f'<h1>{escape(title)}</h1><p>Run <a id="run" href="{escape(grid)}" target="_top">'
        f"{escape(run_id)}</a> of {escape(dag_id)} restores <code>{escape(path)}</code> as of "
        f"<code>{escape(ref)}</code> below <code>{escape(target_root)}</code>.</p>"
        f'<p><a href="{_href("notebook", path=path)}">back to its versions</a></p>',
    )
