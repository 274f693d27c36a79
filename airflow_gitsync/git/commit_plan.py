"""What a backup run asks to change, checked and planned into batches (their texts are in
:mod:`airflow_gitsync.messages`)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from airflow_gitsync.blob import check_blob_id
from airflow_gitsync.layout import check_repo_path
from airflow_gitsync.manifest import ManifestEntry

DEFAULT_BATCH_SIZE = 5000
"""Most changes per commit: a day (~3,500 changes at 70,000 notebooks) is one commit, a first sync of
70,000 is 14; each commit also carries the whole manifest (20 MB at 70,000)."""


@dataclass(frozen=True)
class ChangeSet:
    """Objects to write (content in the staging store under ``blob_id``) and repo paths to delete."""

    upserts: list[ManifestEntry]
    deletions: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class CommitInfo:
    """Where a backup came from; goes into its commit messages. ``capture_time`` is ISO 8601."""

    run_id: str
    logical_date: str
    capture_time: str
    summary_lines: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Change:
    """One path's change: ``entry`` is None for a deletion."""

    path: str
    kind: str  # "added", "modified" or "deleted"
    entry: ManifestEntry | None


def plan_changes(
    changes: ChangeSet, manifest: Mapping[str, ManifestEntry], tree: Mapping[str, str]
) -> list[Change]:
    """The changes that alter the tree or the manifest, sorted by path; no-ops are dropped.

    ``tree`` maps each path at the base commit to its blob id, so a path whose content drifted
    from its manifest record is rewritten too. A later upsert of a path wins over an earlier one.
    """
    upserts = {check_repo_path(e.repo_path): e for e in changes.upserts}
    for entry in upserts.values():
        check_blob_id(entry.blob_id)
    planned = []
    for path in {check_repo_path(p) for p in changes.deletions} - upserts.keys():
        if path in manifest or path in tree:
            planned.append(Change(path, "deleted", None))
    for path, entry in upserts.items():
        if manifest.get(path) != entry or tree.get(path) != entry.blob_id:
            planned.append(Change(path, "modified" if path in manifest else "added", entry))
    return sorted(planned, key=lambda c: c.path)


def batches(changes: list[Change], size: int) -> Iterator[list[Change]]:
    if size < 1:
        raise ValueError(f"batch_size must be at least 1, not {size}")
    for start in range(0, len(changes), size):
        yield changes[start : start + size]
