"""Change detection: one engagement's listing diffed against its slice of the manifest.

An object is exported when it is new, when its ``modified_at``, ``object_id`` or language differs
from the manifest, when either side has no usable ``modified_at`` (then the export is compared by
blob id), or always in ``full_scan`` mode. A manifest entry that was not listed is deleted, but only
when the whole engagement was listed successfully: a failed listing never turns into deletions.
The records travel between tasks through :mod:`airflow_gitsync.results`' serializer.

Around the diff: the manifest cut by year for the scans (:func:`split_manifest`), after checking that
it comes from the run's root (:func:`check_root`), and the engagements with work grouped into export
tasks (:func:`plan_exports`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from airflow_gitsync.layout import engagement_of, root_of, year_of
from airflow_gitsync.manifest import ManifestEntry, join_lines, manifest_lines
from airflow_gitsync.params import SettingsError

Reason = Literal["", "added", "modified", "unknown-mtime", "full-scan"]
LISTING_FAILED = "listing failed"  # how the reason of a folder whose listing failed begins


@dataclass(frozen=True, slots=True)
class ItemFailure:
    """An object or folder that could not be handled, and why."""

    path: str
    reason: str


@dataclass(frozen=True, slots=True)
class ListedObject:
    """A listed workspace object; ``reason`` and ``previous_blob_id`` are set by :func:`diff_engagement`."""

    workspace_path: str
    repo_path: str
    object_id: int
    object_type: str
    language: str | None
    modified_at: int | None
    reason: Reason = ""
    previous_blob_id: str | None = None

    def manifest_entry(self, blob_id: str) -> ManifestEntry:
        """The manifest record for this object exported as ``blob_id``."""
        return ManifestEntry(
            repo_path=self.repo_path,
            workspace_path=self.workspace_path,
            object_id=self.object_id,
            object_type=self.object_type,
            language=self.language,
            modified_at=self.modified_at,
            blob_id=blob_id,
        )


@dataclass(slots=True)
class EngagementChanges:
    """What one engagement needs: objects to export, repo paths to delete, per-item failures."""

    engagement: str
    to_export: list[ListedObject] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    unchanged: int = 0
    failed: list[ItemFailure] = field(default_factory=list)
    listed: int = 0  # notebooks and files the listing found in the engagement, whatever their state

    @property
    def has_work(self) -> bool:
        """Whether an export task is worth mapping over this engagement."""
        return bool(self.to_export or self.deleted or self.failed)

    @property
    def size(self) -> int:
        """Objects to export or delete."""
        return len(self.to_export) + len(self.deleted)

    @property
    def listing_failures(self) -> list[ItemFailure]:
        """The folders of the engagement whose listing failed (then nothing of it may change)."""
        return [f for f in self.failed if f.reason.startswith(LISTING_FAILED)]

    def folder_export(self, rule: FolderRule) -> bool:
        """Whether the engagement is exported as one folder (see :class:`FolderRule`)."""
        return rule.applies(self)

    def export_calls(self, rule: FolderRule) -> int:
        """Workspace API calls its export takes: one for a folder, else one per object."""
        return 1 if self.folder_export(rule) else len(self.to_export)


@dataclass(frozen=True, slots=True)
class FolderRule:
    """When an engagement is exported as one folder rather than one object at a time.

    A two-level engagement (``2024/ENG-101``) qualifies with at least ``min_objects`` (> 0) objects
    to export that are at least ``min_share`` of what it holds. A folder export is one call but
    reads every object of the folder, changed or not: for two changes among fifty, fifty reads
    cost more than the two calls they save (ADR 0004 has the measurement behind the default).
    """

    min_objects: int = 2
    min_share: float = 0.25

    def applies(self, changes: EngagementChanges) -> bool:
        count = len(changes.to_export)
        return (
            "/" in changes.engagement
            and 0 < self.min_objects <= count
            and count >= self.min_share * changes.listed
        )


def _export_reason(obj: ListedObject, previous: ManifestEntry | None, full_scan: bool) -> Reason | None:
    if previous is None:
        return "added"
    if full_scan:
        return "full-scan"
    if not obj.modified_at or not previous.modified_at:
        return "unknown-mtime"
    if (obj.modified_at, obj.object_id, obj.language) != (
        previous.modified_at,
        previous.object_id,
        previous.language,
    ):
        return "modified"
    return None


def _split_collisions(objects: Iterable[ListedObject]) -> tuple[list[ListedObject], list[ItemFailure]]:
    """Objects whose repo path is unique, and a failure for each that shares it with another."""
    by_path: dict[str, list[ListedObject]] = defaultdict(list)
    for obj in objects:
        by_path[obj.repo_path].append(obj)
    unique, failed = [], []
    for repo_path, group in by_path.items():
        if len(group) == 1:
            unique.append(group[0])
            continue
        others = ", ".join(f"{o.workspace_path} ({o.object_type})" for o in group)
        reason = f"repo path {repo_path} is shared by {others}"
        failed.extend(ItemFailure(o.workspace_path, reason) for o in group)
    return unique, failed


def diff_engagement(
    engagement: str,
    objects: Iterable[ListedObject],
    manifest: Mapping[str, ManifestEntry],
    *,
    failures: Iterable[ItemFailure] = (),
    listing_failed: bool = False,
    full_scan: bool = False,
) -> EngagementChanges:
    """Diff one engagement's listed objects against its manifest slice.

    ``failures`` are per-item problems found while listing (unsafe names), reported as they are.
    With ``listing_failed`` the engagement fails as a whole: nothing to export, nothing deleted.
    Objects that share a repo path fail too, and the path is not deleted.
    """
    stray = sorted(p for p in manifest if engagement_of(p.split("/")) != engagement)
    if stray:
        raise ValueError(f"manifest slice for engagement {engagement!r} holds other paths: {stray[:3]}")
    changes = EngagementChanges(engagement, failed=list(failures))
    if listing_failed:
        return changes
    objects = list(objects)
    changes.listed = len(objects) + len(changes.failed)
    unique, collided = _split_collisions(objects)
    changes.failed.extend(collided)
    for obj in unique:
        previous = manifest.get(obj.repo_path)
        reason = _export_reason(obj, previous, full_scan)
        if reason is None:
            changes.unchanged += 1
        else:
            blob_id = previous.blob_id if previous else None
            changes.to_export.append(replace(obj, reason=reason, previous_blob_id=blob_id))
    listed = {obj.repo_path for obj in objects}
    changes.deleted = sorted(p for p in manifest if p not in listed)
    changes.to_export.sort(key=lambda o: o.repo_path)
    return changes


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
    return {year: join_lines(part) for year, part in lines.items()}, roots


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
