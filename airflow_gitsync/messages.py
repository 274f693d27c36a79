"""Every text a backup writes into git: each commit's message (:func:`commit_message`), what a run
adds to all of them (:func:`commit_info`: its scope when the ``years`` param limited it, the
engagements an incomplete run missed) and its tag's message (:func:`tag_message`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime

from airflow_gitsync.git.commit_plan import Change, CommitInfo
from airflow_gitsync.layout import engagement_of
from airflow_gitsync.workspace.export import ExportResult

_MAX_ENGAGEMENT_LINES = 40
_LISTED = 20  # missing engagements named in a message


def _counts(kinds: Counter) -> str:
    return ", ".join(f"{kinds[k]:,} {k}" for k in ("modified", "added", "deleted"))


def commit_message(batch: Iterable[Change], info: CommitInfo, part: int = 1, parts: int = 1) -> str:
    """``Backup <date>: 3,120 modified, 310 added, 198 deleted``, counts per engagement, provenance."""
    totals: Counter = Counter()
    per_engagement: dict[str, Counter] = {}
    for change in batch:
        totals[change.kind] += 1
        per_engagement.setdefault(engagement_of(change.path.split("/")) or "(root)", Counter())[
            change.kind
        ] += 1
    title = f"Backup {info.logical_date[:10]}: {_counts(totals)}"
    if parts > 1:
        title += f" (part {part} of {parts})"
    lines = [title, ""]
    for name in sorted(per_engagement)[:_MAX_ENGAGEMENT_LINES]:
        lines.append(f"  {name}: {_counts(per_engagement[name])}")
    if len(per_engagement) > _MAX_ENGAGEMENT_LINES:
        lines.append(f"  ... and {len(per_engagement) - _MAX_ENGAGEMENT_LINES:,} more engagements")
    lines += ["", f"Run id: {info.run_id}", f"Logical date: {info.logical_date}"]
    lines += [f"Capture time: {info.capture_time}", *info.summary_lines]
    return "\n".join(lines) + "\n"


def scope(years: Sequence[str]) -> str | None:
    """What a run limited by the ``years`` param covered, for its messages (None: everything)."""
    if not years:
        return None
    return f"years {', '.join(years)} only; other years as of the previous backup"


def counts_line(exports: Iterable[ExportResult]) -> str:
    """``3,120 modified, 310 added, 198 deleted``: what the exports change in content."""
    exports = list(exports)
    modified = sum(e.modified for e in exports)
    added = sum(e.added for e in exports)
    deleted = sum(len(e.deletions) for e in exports)
    return f"{modified:,} modified, {added:,} added, {deleted:,} deleted"


def commit_info(
    run_id: str, logical_date: datetime, capture_time: str, missing: Sequence[str], years: Sequence[str]
) -> CommitInfo:
    """Where the run's commits come from; an incomplete or limited run says so in every message."""
    lines = []
    if covered := scope(years):
        lines.append(f"Scope: {covered}")
    if missing:
        shown = ", ".join(missing[:_LISTED]) + (" ..." if len(missing) > _LISTED else "")
        lines.append(f"Incomplete: {len(missing)} engagements not exported: {shown}")
    return CommitInfo(
        run_id=run_id, logical_date=logical_date.isoformat(), capture_time=capture_time, summary_lines=lines
    )


def tag_message(info: CommitInfo, exports: Iterable[ExportResult], years: Sequence[str]) -> str:
    """The annotated tag's message: date, counts, scope (for a ``years`` run), provenance."""
    title = f"Databricks backup for {info.logical_date[:10]} ({counts_line(exports)})"
    covered = scope(years)
    lines = [title, ""] + ([f"scope: {covered}"] if covered else [])
    lines += [
        f"logical date: {info.logical_date}",
        f"captured at: {info.capture_time}",
        f"run: {info.run_id}",
    ]
    return "\n".join(lines) + "\n"
