"""The rules of one backup run, apart from Airflow: export task groups, completeness, messages.

- Engagements with work are grouped into export tasks (:func:`plan_exports`).
- The manifest is cut by year for the scans (:func:`split_manifest`), after checking that it
  comes from the run's root (:func:`check_root`).
- A run is *complete* when every year was scanned and every planned engagement exported
  (:func:`missing_engagements`); only a complete run is tagged.
- The commit and tag say what the run covered: the logical date, the capture time, the counts of
  what changed, and, when the ``years`` param limited it, which years (:func:`commit_info`,
  :func:`tag_message`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime

from airflow_gitsync.diff import EngagementChanges, FolderRule
from airflow_gitsync.git.commit_plan import CommitInfo
from airflow_gitsync.layout import engagement_of, root_of, year_of
from airflow_gitsync.manifest import manifest_lines
from airflow_gitsync.results import PlannedEngagement
from airflow_gitsync.settings import SettingsError
from airflow_gitsync.workspace.export import ExportResult

_LISTED = 20  # names shown in a message


def _label(engagements: Sequence[str]) -> str:
    first = engagements[0] or "(root)"
    if len(engagements) == 1:
        return first
    return f"{first} … {engagements[-1]} ({len(engagements)} engagements)"


def plan_exports(
    engagements: Iterable[EngagementChanges], task_calls: int, max_map_length: int, folder_rule: FolderRule
) -> list[tuple[str, list[EngagementChanges]]]:
    """Group engagements into export tasks; each group with the label the UI shows for it.

    Consecutive engagements (by name) share a task until it holds ``task_calls`` Workspace API
    calls (an engagement exported as one folder is one call, see
    :meth:`EngagementChanges.export_calls`; each engagement counts one more, for its own work):
    each mapped task instance costs Airflow a fixed overhead (a process, a DAG parse, XCom), which
    a run touching most of ~1,500 engagements would otherwise pay ~1,500 times. With
    ``task_calls = 1`` every engagement is its own task.

    :raises SettingsError: more groups than Airflow's ``[core] max_map_length`` allows.
    """
    groups: list[list[EngagementChanges]] = []
    size = task_calls
    for engagement in sorted(engagements, key=lambda e: e.engagement):
        if size >= task_calls:
            groups.append([])
            size = 0
        groups[-1].append(engagement)
        size += engagement.export_calls(folder_rule) + 1
    if len(groups) > max_map_length:
        raise SettingsError(
            f"{len(groups):,} export tasks exceed [core] max_map_length = {max_map_length:,}; raise it "
            "(e.g. AIRFLOW__CORE__MAX_MAP_LENGTH=4096) or [gitsync] export_task_calls, see the README"
        )
    return [(_label([e.engagement for e in group]), group) for group in groups]


def split_manifest(data: bytes) -> tuple[dict[str, bytes], set[str]]:
    """The manifest file cut by year, without building its entries: each year's lines (keyed by the
    year's name in the repository, in file order, so a manifest this package wrote gives the bytes
    :func:`~airflow_gitsync.manifest.dump_manifest` gives for that year) and the roots its records
    were backed up from (:func:`check_root`). Whoever loads a year's part checks its records."""
    lines: dict[str, list[bytes]] = defaultdict(list)
    roots: set[str] = set()
    for line, repo_path, workspace_path in manifest_lines(data):
        lines[year_of(engagement_of(repo_path.split("/")))].append(line)
        roots.add(root_of(workspace_path, repo_path))
    return {year: b"\n".join(part) + b"\n" for year, part in lines.items()}, roots


def check_root(roots: Iterable[str], workspace_root: str, allow_change: bool = False) -> None:
    """Refuse to back up ``workspace_root`` into a repository whose manifest came from other ``roots``.

    The root of each entry is what its workspace path and repo path imply (:func:`root_of`). A
    different root would re-add every object under new paths and delete the old ones (a green run
    that moves the whole backup); ``allow_change`` (the ``allow_root_change`` param) says it is meant.
    """
    other = sorted(set(roots) - {workspace_root.rstrip("/") or "/"})
    if other and not allow_change:
        raise SettingsError(
            f"workspace_root {workspace_root!r}: the backup repository holds a backup of {', '.join(other)}; "
            "backing up another root would move every object. Set the param allow_root_change to do that."
        )


def missing_engagements(planned: Iterable[PlannedEngagement], exports: Iterable[ExportResult]) -> list[str]:
    """The planned engagements that no export delivered, sorted."""
    exported = {e.engagement for e in exports}
    return sorted(p.engagement for p in planned if p.engagement not in exported)


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
