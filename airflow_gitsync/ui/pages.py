"""The Backups view's HTML: the history page (health, gaps, plots, table) and a run's summary page.

Pure: it renders a :class:`~airflow_gitsync.ui.history.History` or one row. A run's summary is the
report task's own markdown (:func:`airflow_gitsync.backup_report.render_markdown`, which escapes every name
and reason) as HTML, so the page and the task's rendered field never disagree. Links are relative:
``ui_root`` leads from the page to Airflow's UI (the grid), whatever prefix Airflow is served under.
Every page is framed by :func:`~airflow_gitsync.ui.frame.page`.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from datetime import date
from html import escape
from typing import Any
from urllib.parse import quote, urlencode

from markdown_it import MarkdownIt

from airflow_gitsync.backup_report import Summary, render_markdown
from airflow_gitsync.backup_report import human_size as size
from airflow_gitsync.git.sizes import RECOMMENDED_MAX_BYTES
from airflow_gitsync.ui import svg
from airflow_gitsync.ui.frame import page
from airflow_gitsync.ui.history import BackupRow, Gap, History, RepoSize, State, project

PHASES = (("prepare", "#9aa5b1"), ("scan", "#5b8def"), ("export", "#38a169"), ("commit", "#805ad5"))
CHANGES = (("added", "#38a169"), ("modified", "#3182ce"), ("deleted", "#dd6b20"), ("failed", "#d33"))
_COLUMNS = [
    "date",
    "state",
    "tag",
    "added",
    "modified",
    "deleted",
    "failed",
    "skipped",
    "duration",
    "pushed",
    "links",
]
TagLink = Callable[[str], str | None]
MAX_REPOSITORY_ROWS = 100  # rows of the Repositories table (a sharded backup has one per year)


def seconds(value: float) -> str:
    if value < 600:
        return f"{value:.0f} s"
    return f"{value / 60:.1f} min" if value < 7200 else f"{value / 3600:.1f} h"


def _badge(state: State) -> str:
    return f'<span class="state {state}">{state}</span>'


def run_href(run_id: str) -> str:
    """The summary page of a run, relative to the history page."""
    return f"runs/{quote(run_id, safe='')}"


def grid_href(ui_root: str, dag_id: str, run_id: str) -> str:
    return f"{ui_root}dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}"


def _duration(row: BackupRow) -> str:
    if row.seconds is None:
        return ""
    if not row.floor_seconds:
        return seconds(row.seconds)
    return (
        f'{seconds(row.seconds)} <span class="muted">({row.seconds / row.floor_seconds:.1f}x floor '
        f"{seconds(row.floor_seconds)})</span>"
    )


def _tag(tag: str | None, tag_link: TagLink) -> str:
    if not tag:
        return ""
    url = tag_link(tag)
    return f'<a href="{escape(url)}" target="_blank" rel="noopener">{escape(tag)}</a>' if url else escape(tag)


def _row_html(row: BackupRow, dag_id: str, ui_root: str, tag_link: TagLink) -> str:
    counts = "".join(
        f"<td>{row.totals[k]:,}</td>" for k in ("added", "modified", "deleted", "failed", "skipped")
    )
    links = (
        f'<a href="{run_href(row.run.run_id)}">summary</a> · '
        f'<a href="{grid_href(ui_root, dag_id, row.run.run_id)}" target="_top">run</a>'
    )
    return (
        f'<tr data-state="{row.state}" data-day="{row.day}">'
        f'<td>{row.day}</td><td class="l">{_badge(row.state)}</td>'
        f'<td class="l">{_tag(row.tag, tag_link)}</td>{counts}<td>{_duration(row)}</td>'
        f"<td>{size(row.pushed_bytes) if row.pushed_bytes is not None else ''}</td>"
        f'<td class="l">{links}</td></tr>'
    )


def _gap_html(gap: Gap, dag_id: str) -> str:
    days = gap.label if gap.days == 1 else f"{gap.label} ({gap.days:,} dates)"
    return (
        f'<tr data-state="missing" data-day="{gap.last}">'
        f'<td>{days}</td><td class="l">{_badge(State.MISSING)}</td>'
        f'<td class="l" colspan="9">no run; fill it with <code class="backfill">{escape(gap.command(dag_id))}'
        "</code></td></tr>"
    )


def _health(history: History, dag_id: str) -> str:
    complete = [r for r in history.rows if r.state is State.COMPLETE]
    states = Counter(r.state for r in history.rows)
    missing = sum(g.days for g in history.gaps)
    sized = [r for r in history.rows if r.repo_size_bytes]
    cards = [
        ("Last complete backup", str(complete[0].day) if complete else "none on this page"),
        ("Missing dates", f"{missing:,}"),
        ("Failed / partial runs", f"{states[State.FAILED]:,} / {states[State.PARTIAL]:,}"),
    ]
    if sized:
        latest = sized[0].repo_size_bytes or 0
        cards.append(("Repository size", f"{size(latest)} ({latest / RECOMMENDED_MAX_BYTES:.0%} of 10 GB)"))
    body = '<div class="cards">' + "".join(
        f'<div class="card"><span class="muted">{escape(k)}</span><b>{escape(v)}</b></div>' for k, v in cards
    )
    body += "</div>"
    if history.gaps:
        commands = "\n".join(escape(g.command(dag_id)) for g in history.gaps)
        body += (
            f"<h2>Missing dates ({missing:,})</h2><p>No run for these dates; these commands create them:</p>"
            f"<pre>{commands}</pre>"
        )
    return body


def _forecast(closed: str | None, points: list[tuple[date, int]]) -> str:
    """Growth per day and the date the sizes (newest first) reach 10 GB, as two cells."""
    projection = project(points[::-1], RECOMMENDED_MAX_BYTES)
    if projection is None:
        return '<td class="muted">-</td><td class="l muted">fewer than two measured dates</td>'
    growth = f"+{size(projection.per_day)}/day" if projection.per_day > 0 else "not growing"
    if closed is not None:
        reaches = "closed"
    elif projection.reaches_limit is None:
        reaches = "not growing"
    else:
        reaches = f"around {projection.reaches_limit}"
    return f'<td>{escape(growth)}</td><td class="l">{escape(reaches)}</td>'


def _repositories(history: History) -> str:
    """The repositories of a sharded backup (ADR 0007) seen on the page, the newest run's first: each
    one's state, latest measured size against Azure DevOps' 10 GB, growth and the date it reaches 10 GB
    fitted to its sizes on the page. Nothing for a page of single-repository runs."""
    latest: dict[str, tuple[date, RepoSize]] = {}  # a shard's newest row on the page
    for row in history.rows:  # newest first
        for repo in row.repositories:
            latest.setdefault(repo.shard, (row.day, repo))
    if not latest:
        return ""
    shown = dict(list(latest.items())[:MAX_REPOSITORY_ROWS])
    points: defaultdict[str, list[tuple[date, int]]] = defaultdict(list)  # newest first
    tags: dict[str, str] = {}  # the archive tag a run on the page set
    for row in history.rows:
        for repo in row.repositories:
            if repo.shard not in shown:
                continue
            if repo.repo_size_bytes is not None:
                points[repo.shard].append((row.day, repo.repo_size_bytes))
            if repo.closed:
                tags.setdefault(repo.shard, repo.closed)
    body = ""
    for shard, (day, repo) in shown.items():
        closed = tags.get(shard, "") if repo.state == "archived" or repo.closed else None
        state = escape(repo.state) + (
            f' <span class="muted">closed{f" ({escape(closed)})" if closed else ""}</span>'
            if closed is not None
            else ""
        )
        measured = points[shard]
        if measured:
            when, bytes_ = measured[0]
            note = f' <span class="muted">on {when}</span>' if when != day else ""
            sized = f"<td>{size(bytes_)}{note}</td><td>{bytes_ / RECOMMENDED_MAX_BYTES:.1%}</td>"
        else:
            sized = '<td class="muted">not measured</td><td></td>'
        pushed = size(repo.pushed_bytes) if repo.pushed_bytes is not None else ""
        body += (
            f'<tr data-shard="{escape(shard)}"><td class="l">{escape(shard)}</td><td class="l">{state}</td>'
            f"{sized}{_forecast(closed, measured)}<td>{pushed}</td></tr>"
        )
    head = "".join(
        f'<th class="{"l" if h in ("repository", "state", "reaches 10 GB") else ""}">{h}</th>'
        for h in ("repository", "state", "size", "of 10 GB", "growth", "reaches 10 GB", "pushed")
    )
    rest = len(latest) - len(shown)
    more = f"<p class='muted'>{rest:,} more repositories are not shown.</p>" if rest else ""
    return (
        f"<h2>Repositories ({len(latest):,})</h2><p class='muted'>A repository per year: the latest size "
        "each run measured, and growth and the date it reaches Azure DevOps' 10 GB fitted to its sizes "
        f'on this page. Pushed: by its newest run.</p><table id="repositories" class="wide"><thead><tr>'
        f"{head}</tr></thead><tbody>{body}</tbody></table>{more}"
    )


def _charts(history: History) -> str:
    slots = history.axis
    days = [s.label if isinstance(s, Gap) else s.isoformat() for s in slots]
    rows = {r.day: r for r in reversed(history.rows)}  # the newest run of a date wins
    missing = [label for s, label in zip(slots, days, strict=True) if s not in rows]

    def per_day(value: Callable[[BackupRow], float | None]) -> list[float | None]:
        return [value(rows[s]) if s in rows else None for s in slots]

    changed = svg.bars(
        "Changed notebooks per day",
        days,
        [(k, c, per_day(lambda r, k=k: r.totals[k])) for k, c in CHANGES],
        lambda v: f"{v:,.0f}",
        missing=missing,
    )
    phases = svg.bars(
        "Task time per phase per day (tick: rate-limit floor)",
        days,
        [(k, c, per_day(lambda r, k=k: r.phases.get(k))) for k, c in PHASES],
        seconds,
        missing=missing,
        marker=("floor", "#111", per_day(lambda r: r.floor_seconds)),
    )
    gib = 1024**3  # plotted in GiB, so that the axis has round numbers
    points = [(r.day, r.repo_size_bytes / gib) for r in reversed(history.rows) if r.repo_size_bytes]
    projection = project(points, RECOMMENDED_MAX_BYTES / gib)
    note, trend = "", None
    if projection:
        trend = (projection.intercept, projection.per_day)
        note = (
            f"+{size(projection.per_day * gib)}/day: reaches 10 GB around {projection.reaches_limit}"
            if projection.reaches_limit
            else "not growing"
        )
    sizes = svg.line(
        "Repository size against Azure DevOps' 10 GB",
        points,
        lambda v: f"{v:g} GiB",
        limit=("10 GB recommended maximum", RECOMMENDED_MAX_BYTES / gib),
        trend=trend,
        note=note,
    )
    failing = svg.hbars(
        "Failures per engagement (dates with a failure)",
        [
            (
                e.engagement,
                e.days,
                f"{e.days} date{'s' * (e.days > 1)}, {e.failures} failure{'s' * (e.failures > 1)}",
                e.days > 1,
            )
            for e in history.engagements[:15]
        ],
        empty="no engagement failed on this page",
    )
    return f'<div class="charts">{changed}{phases}{sizes}{failing}</div>'


def _pager(newer: Mapping[str, Any] | None, older: Mapping[str, Any] | None, path: str = "") -> str:
    return " · ".join(
        f'<a href="{path}?{escape(urlencode(query))}">{label}</a>'
        for label, query in (("newest", newer), ("older", older))
        if query is not None
    )


def _table(entries: list[BackupRow | Gap], dag_id: str, ui_root: str, tag_link: TagLink) -> str:
    head = "".join(f'<th class="{"l" if h in ("state", "tag", "links") else ""}">{h}</th>' for h in _COLUMNS)
    body = "".join(
        _row_html(e, dag_id, ui_root, tag_link) if isinstance(e, BackupRow) else _gap_html(e, dag_id)
        for e in entries
    )
    return f'<table id="history" class="wide"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _oldest(entry: BackupRow | Gap) -> date:
    return entry.day if isinstance(entry, BackupRow) else entry.first


def _heading(title: str, history: History, links: str) -> str:
    """A history page's title and the span of its runs, then ``links``."""
    (first, last), runs = history.span, len(history.rows)
    return f"<h1>{escape(title)}</h1><p class='muted'>{first} to {last}: {runs:,} runs. {links}</p>"


def backups_page(
    dag_id: str,
    history: History,
    *,
    ui_root: str,
    tag_link: TagLink,
    newer: Mapping[str, Any] | None,
    older: Mapping[str, Any] | None,
    rows: int,
) -> str:
    """The history page: health and plots of the page's dates and the newest ``rows`` rows of the
    table, whose older rows are on :func:`table_page` (``table?before=``); ``newer`` / ``older`` are
    the query of the neighbouring pages (None: none)."""
    title = f"Backups of {dag_id}"
    pager = _pager(newer, older)
    if not history.rows:
        none = "No older runs." if newer else "No runs of this DAG yet."
        return page(title, f"<h1>{escape(title)}</h1><p>{none} {pager}</p>")
    entries = history.entries()
    shown = entries[:rows]
    if len(entries) > rows:  # up to the oldest date shown, so that no date is split across pages
        shown = [e for e in entries if _oldest(e) >= _oldest(shown[-1])]
    more = (
        f' <a href="table?{escape(urlencode({"before": _oldest(shown[-1]).isoformat()}))}">older rows</a>'
        if len(shown) < len(entries)
        else ""
    )
    return page(
        title,
        _heading(title, history, f'{pager} · <a href="find">find a notebook</a>')
        + f"{_health(history, dag_id)}{_repositories(history)}<h2>History</h2>{_charts(history)}"
        f"<h2>Backup dates</h2>{_table(shown, dag_id, ui_root, tag_link)}<p>{pager}{more}</p>",
    )


def table_page(
    dag_id: str,
    history: History,
    *,
    ui_root: str,
    tag_link: TagLink,
    newer: Mapping[str, Any] | None,
    older: Mapping[str, Any] | None,
) -> str:
    """A page of the table of backup dates alone (the older rows of :func:`backups_page`)."""
    title = f"Backups of {dag_id}"
    pager = _pager(newer, older, "table")
    home = '<a href="backups">plots and newest dates</a>'
    if not history.rows:
        return page(title, f"<h1>{escape(title)}</h1><p>No older runs. {home} · {pager}</p>")
    return page(
        title,
        _heading(title, history, f"{home} · {pager}")
        + f"{_table(history.entries(), dag_id, ui_root, tag_link)}<p>{pager}</p>",
    )


def not_a_backup_page(dag_id: str, *, ui_root: str) -> str:
    """What the Backups tabs show on a DAG that is not a backup (Airflow shows them on every DAG)."""
    return page(
        f"{dag_id} is not a backup",
        f"<h1>No backups here</h1><p>{escape(dag_id)} is not a backup DAG, so this tab has nothing to "
        f'show. See <a href="{ui_root}plugin/backups" target="_top">Backups</a> in the navigation, or '
        "this tab on a backup DAG.</p>",
    )


def summary_from_dict(data: Mapping[str, Any]) -> Summary:
    """The :class:`Summary` a ``summary`` XCom (:meth:`Summary.to_dict`) was made from."""
    per_year: defaultdict[str, Counter] = defaultdict(Counter)
    per_year.update({year: Counter(counts) for year, counts in (data.get("per_year") or {}).items()})
    api: defaultdict[str, Counter] = defaultdict(Counter)
    api.update({endpoint: Counter(c) for endpoint, c in (data.get("api") or {}).items()})
    return Summary(
        per_year=per_year,
        failures=[(f["path"], f["reason"]) for f in data.get("failures") or ()],
        warnings=list(data.get("warnings") or ()),
        skipped_types=Counter(data.get("skipped_types") or {}),
        durations=dict(data.get("durations_seconds") or {}),
        peak_rss=dict(data.get("peak_rss_bytes") or {}),
        api=api,
        commit=dict(data.get("commit") or {}),
        complete=bool(data.get("complete")),
    )


_MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable("table")


def summary_page(dag_id: str, row: BackupRow | None, *, run_id: str, ui_root: str, tag_link: TagLink) -> str:
    """A run's summary as a page, with links to the run in the grid and to its tag."""
    title = f"Backup {row.day if row else ''} ({run_id})"
    links = (
        '<a href="../backups">all backups</a> · '
        f'<a href="{grid_href(ui_root, dag_id, run_id)}" target="_top">run in the grid</a>'
    )
    if row is None:
        return page(title, f"<h1>{escape(title)}</h1><p>No run {escape(run_id)} of {escape(dag_id)}.</p>")
    links += f" · tag {_tag(row.tag, tag_link)}" if row.tag else ""
    head = (
        f"<h1>{escape(title)}</h1><p>{_badge(row.state)} run {escape(row.run.state)}"
        f"{' in ' + _duration(row) if row.seconds is not None else ''} · {links}</p>"
    )
    if not row.run.summary:
        return page(title, head + "<p>This run has no summary (its report task has not pushed one).</p>")
    markdown = render_markdown(summary_from_dict(row.run.summary), title)
    body = _MARKDOWN.render(markdown.split("\n", 1)[1])  # its title is the page's
    return page(title, f'{head}<div class="summary">{body}</div>')
