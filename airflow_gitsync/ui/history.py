"""The backup history: what each run recorded, read as one row per backup date.

Pure: :class:`BackupRun` is what the data access reads (a dag run and its ``report`` task's
``summary`` XCom, see :meth:`airflow_gitsync.backup_report.Summary.to_dict`). From a page of them this
module classifies each run, finds the dates without a run (with the backfill command that fills
them) in pages of a bounded number of dates, the duration against the rate-limit floor, the
repository's growth toward Azure DevOps' 10 GB (per repository when the backup is sharded by year,
ADR 0007) and the engagements that fail.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

from airflow_gitsync.backup_report import COUNTS
from airflow_gitsync.compat import StrEnum

PAGE_DAYS = 400  # a page: about 13 months of daily backups
LONG_GAP = 7  # a gap of more dates without a run is one slot in the plots (and, like any gap, one row)
ONE_DAY = timedelta(days=1)
MAX_REPOSITORIES = 1000  # read of one run's summary: a run has a repository per year folder
MAX_NAME = 80  # characters kept of a repository's shard name or archive tag (read from XCom)
MAX_BYTES = 2**62  # a size above this is not a measurement (and would overflow the float arithmetic)
REPO_STATES = frozenset({"active", "archived", "switching", "missing"})  # results.RepoState's values


class State(StrEnum):
    """What a backup date holds."""

    COMPLETE = "complete"  # tagged, nothing failed
    PARTIAL = "partial"  # committed, but something failed (see the summary)
    FAILED = "failed"  # nothing committed, or no summary
    RUNNING = "running"
    MISSING = "missing"  # no run for the date


@dataclass(frozen=True)
class BackupRun:
    """One dag run of a backup DAG and its summary (None: the report task pushed none)."""

    run_id: str
    day: date
    state: str
    start: datetime | None = None
    end: datetime | None = None
    conf: Mapping[str, Any] = field(default_factory=dict)
    summary: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Gap:
    """Consecutive backup dates without a run, ``first`` to ``last``."""

    first: date
    last: date

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    @property
    def label(self) -> str:
        return str(self.first) if self.days == 1 else f"{self.first} … {self.last}"

    def command(self, dag_id: str) -> str:
        """The CLI command that creates the missing runs."""
        return (
            f"airflow backfill create --dag-id {dag_id} "
            f"--from-date {self.first.isoformat()} --to-date {self.last.isoformat()}"
        )


@dataclass(frozen=True)
class RepoSize:
    """One repository of a sharded run (a row of the summary's ``repositories``), as read for the view.

    ``state`` is one of :data:`REPO_STATES` or ``unknown``; a size is None when the run did not measure
    it (the repository was not touched, or the summary held no valid number); ``closed`` is the archive
    tag the run set when it closed the repository."""

    shard: str
    state: str
    repo_size_bytes: int | None
    pushed_bytes: int | None
    closed: str | None = None


@dataclass(frozen=True)
class BackupRow:
    """One run, read for the table and the plots."""

    run: BackupRun
    state: State
    totals: Mapping[str, int]
    phases: Mapping[str, float]
    failures: Sequence[tuple[str, str]]
    tag: str | None
    seconds: float | None
    floor_seconds: float | None
    pushed_bytes: int | None
    repo_size_bytes: int | None
    repositories: tuple[RepoSize, ...] = ()  # a sharded run's repositories; empty for a single one

    @property
    def day(self) -> date:
        return self.run.day


@dataclass(frozen=True)
class EngagementFailures:
    """How often one engagement failed over the page's dates."""

    engagement: str
    days: int
    failures: int


@dataclass(frozen=True)
class History:
    """A page of backup history: rows and gaps newest first, and the plots' time axis."""

    rows: list[BackupRow]
    gaps: list[Gap]
    engagements: list[EngagementFailures]
    axis: list[date | Gap]  # the plots' slots, oldest first: a date each, but a long gap as one
    older: date | None = None  # the next older page holds the runs before this date (None: no more)

    def entries(self) -> list[BackupRow | Gap]:
        """Rows and gaps, newest first: the table."""
        return sorted(
            [*self.rows, *self.gaps],
            key=lambda e: e.day if isinstance(e, BackupRow) else e.last,
            reverse=True,
        )

    @property
    def span(self) -> tuple[date, date]:
        """The first and last date the page covers."""
        first, last = self.axis[0], self.axis[-1]
        return first.first if isinstance(first, Gap) else first, last.last if isinstance(last, Gap) else last


def state_of(run: BackupRun) -> State:
    """A finished run with a summary is complete, partial (committed, something failed) or failed."""
    if run.state in ("queued", "running"):
        return State.RUNNING
    summary = run.summary
    if not summary:
        return State.FAILED
    if summary.get("complete") and not summary.get("failures") and run.state == "success":
        return State.COMPLETE
    return State.PARTIAL if summary.get("commit") else State.FAILED


def floor_seconds(summary: Mapping[str, Any], rates: Mapping[str, float]) -> float | None:
    """The least time the workspace's rate limits allow for the API calls the run made."""
    api = summary.get("api") or {}
    if not api:
        return None
    return sum(c.get("calls", 0) / rates[endpoint] for endpoint, c in api.items() if rates.get(endpoint))


def _bytes(value: Any) -> int | None:
    """A byte count from XCom, or None when it is not one (bool, negative, float, text, absurd)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_BYTES:
        return None
    return value


def _name(value: Any) -> str | None:
    """A name from XCom, bounded to :data:`MAX_NAME` characters; None when it is no text or empty."""
    if not isinstance(value, str) or not value:
        return None
    return value if len(value) <= MAX_NAME else value[: MAX_NAME - 1] + "…"


def repositories_of(summary: Mapping[str, Any]) -> tuple[RepoSize, ...]:
    """The repositories of a sharded run's summary, read defensively: a summary from before sharding has
    no ``repositories``; anything that is not a list of rows with a shard name is skipped, a value of a
    wrong type is read as not measured, a shard named twice counts once (its first row), and at most
    :data:`MAX_REPOSITORIES` are read. Names are untrusted text (the caller escapes them)."""
    rows = summary.get("repositories")
    if not isinstance(rows, list | tuple):
        return ()
    found: dict[str, RepoSize] = {}
    for row in rows[:MAX_REPOSITORIES]:
        if not isinstance(row, Mapping) or (shard := _name(row.get("shard"))) is None or shard in found:
            continue
        state = row.get("state")
        found[shard] = RepoSize(
            shard=shard,
            state=state if isinstance(state, str) and state in REPO_STATES else "unknown",
            repo_size_bytes=_bytes(row.get("repo_size_bytes")),
            pushed_bytes=_bytes(row.get("pushed_bytes")),
            closed=_name(row.get("closed")),
        )
    return tuple(found.values())


def row_of(run: BackupRun, rates: Mapping[str, float]) -> BackupRow:
    summary = run.summary or {}
    commit = summary.get("commit") or {}
    totals = summary.get("totals") or {}
    finished = run.start is not None and run.end is not None and run.state not in ("queued", "running")
    return BackupRow(
        run=run,
        state=state_of(run),
        totals={k: int(totals.get(k, 0)) for k in COUNTS},
        phases=dict(summary.get("durations_seconds") or {}),
        failures=[(f.get("path", ""), f.get("reason", "")) for f in summary.get("failures") or ()],
        tag=commit.get("tag"),
        seconds=(run.end - run.start).total_seconds() if finished else None,
        floor_seconds=floor_seconds(summary, rates) if summary else None,
        pushed_bytes=commit.get("pushed_bytes"),
        repo_size_bytes=commit.get("repo_size_bytes"),
        repositories=repositories_of(summary) if isinstance(summary, Mapping) else (),
    )


def engagement_of_failure(path: str, root: str) -> str | None:
    """The engagement (``2024/ENG-101``) a failure's path belongs to; None for a run-level failure.

    Object and folder failures name a workspace path under ``root``; an engagement or year whose
    task did not finish is named relative to it already; ``(prepare)`` and the like are the run's.
    """
    if path.startswith("("):
        return None
    prefix = root.rstrip("/") + "/"
    if path.startswith("/"):
        if not path.startswith(prefix):
            return None
        path = path[len(prefix) :]
    return "/".join(path.split("/")[:2]) or None


def failing_engagements(rows: Sequence[BackupRow], default_root: str) -> list[EngagementFailures]:
    """Engagements that failed, those failing on the most dates first."""
    days: dict[str, set[date]] = defaultdict(set)
    failures: Counter = Counter()
    for row in rows:
        root = row.run.conf.get("workspace_root") or default_root
        for path, _ in row.failures:
            if engagement := engagement_of_failure(path, root):
                days[engagement].add(row.day)
                failures[engagement] += 1
    return sorted(
        (EngagementFailures(e, len(d), failures[e]) for e, d in days.items()),
        key=lambda e: (-e.days, -e.failures, e.engagement),
    )


def history(
    runs: Sequence[BackupRun],
    *,
    rates: Mapping[str, float],
    default_root: str,
    until: date | None = None,
    days: int = PAGE_DAYS,
    more: bool = False,
) -> History:
    """Read runs (any order) into a page of the newest that fit in ``days`` slots of the plots' axis.

    A date before ``until`` (the first date not to back up yet; None: no date after the newest run)
    without a run is missing; consecutive missing dates are a gap, one row in the table and, once
    longer than :data:`LONG_GAP`, one slot in the plots. So a page has at most ``days + LONG_GAP``
    slots and as many rows as runs and gaps, and its time grows with its runs, whatever the dates.
    The gap below the page's oldest run is the next page's. ``more``: older runs were not read, so
    the oldest date read may lack runs and is left to the next page.
    """
    rows = sorted((row_of(run, rates) for run in runs), key=lambda r: r.day, reverse=True)
    dates = sorted({r.day for r in rows}, reverse=True)
    if more and len(dates) > 1:
        dates.pop()
    shown: list[date] = []
    found: list[Gap] = []
    axis: list[date | Gap] = []  # newest first here
    newer = until  # the oldest date above the page's dates so far
    for day in dates:
        gap = Gap(day + ONE_DAY, newer - ONE_DAY) if newer is not None and (newer - day).days > 1 else None
        slots: list[date | Gap] = []
        if gap:
            slots = [gap] if gap.days > LONG_GAP else [gap.last - i * ONE_DAY for i in range(gap.days)]
        if shown and len(axis) + len(slots) + 1 > days:
            break
        shown.append(day)
        found += [gap] if gap else []
        axis += [*slots, day]
        newer = day if newer is None else min(newer, day)
    on_page = set(shown)
    rows = [r for r in rows if r.day in on_page]
    older = shown[-1] if shown and (more or len(shown) < len(dates)) else None
    return History(rows, found, failing_engagements(rows, default_root), axis[::-1], older)


@dataclass(frozen=True)
class Projection:
    """A least-squares line through the repository sizes, and when it reaches a limit."""

    intercept: float  # size at the first date
    per_day: float
    reaches_limit: date | None  # None: not growing


def project(points: Sequence[tuple[date, float]], limit: float) -> Projection | None:
    """Fit the sizes (at least two dates, oldest first) and extrapolate to ``limit``; a repository
    already past it reaches it at its last date. None with too few dates."""
    if len({d for d, _ in points}) < 2:
        return None
    origin = points[0][0]
    xs = [(d - origin).days for d, _ in points]
    ys = [float(v) for _, v in points]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / sum(
        (x - mean_x) ** 2 for x in xs
    )
    intercept = mean_y - slope * mean_x
    if slope <= 0:
        return Projection(intercept, slope, None)
    days = min((limit - intercept) / slope, 365 * 1000, (date.max - origin).days)
    return Projection(intercept, slope, origin + timedelta(days=max(max(xs), math.ceil(days))))


def tag_url(remote: str | None, tag: str) -> str | None:
    """The tag's page on Azure DevOps (``..._git/repo?version=GTbackup/2026-11-02``) when the remote
    is an Azure DevOps repository (HTTPS, ``visualstudio.com`` or SSH), else None."""
    if not remote:
        return None
    if remote.startswith("git@ssh.dev.azure.com:v3/"):
        remote = "ssh://" + remote.replace(":v3/", "/v3/", 1)
    parts = urlsplit(remote)
    host = parts.hostname or ""
    path = parts.path.strip("/").removesuffix(".git")
    if host == "ssh.dev.azure.com" and path.startswith("v3/") and path.count("/") == 3:
        org, project, repo = path.split("/")[1:]
        base = f"https://dev.azure.com/{org}/{project}/_git/{repo}"
    elif parts.scheme == "https" and (host == "dev.azure.com" or host.endswith(".visualstudio.com")):
        if "/_git/" not in f"/{path}":
            return None
        base = f"https://{host}/{path}"
    else:
        return None
    return f"{base}?version=GT{quote(tag, safe='/')}"
