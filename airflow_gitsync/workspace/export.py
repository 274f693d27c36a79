"""Export one partition's changed objects into the staging store, with an outcome per object."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from functools import partial

from airflow_gitsync.changes import EngagementChanges, ItemFailure, ListedObject
from airflow_gitsync.manifest import ManifestEntry
from airflow_gitsync.staging import StagingStore
from airflow_gitsync.workspace.client import (
    FATAL_ERRORS,
    NotFoundError,
    TransientError,
    WorkspaceClient,
    WorkspaceError,
)


@dataclass(slots=True)
class ExportResult:
    """What the commit needs from one partition.

    ``upserts`` are staged under their blob id and carry the *listed* ``modified_at``, so an object
    changed during the export is exported again next run. ``deletions`` are repo paths: the scan's
    plus objects in the manifest that vanished before export. ``vanished`` are workspace paths of new
    objects gone before export (neither failure nor deletion). ``failed`` objects keep their manifest
    entry and are retried next run.
    """

    partition: str
    upserts: list[ManifestEntry] = field(default_factory=list)
    deletions: list[str] = field(default_factory=list)
    unchanged_after_export: int = 0
    failed: list[ItemFailure] = field(default_factory=list)
    vanished: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "partition": self.partition,
            "upserts": [asdict(e) for e in self.upserts],
            "deletions": list(self.deletions),
            "unchanged_after_export": self.unchanged_after_export,
            "failed": [f.to_dict() for f in self.failed],
            "vanished": list(self.vanished),
        }

    @classmethod
    def from_dict(cls, data: dict) -> ExportResult:
        return cls(
            partition=data["partition"],
            upserts=[ManifestEntry.from_dict(e) for e in data["upserts"]],
            deletions=list(data["deletions"]),
            unchanged_after_export=data["unchanged_after_export"],
            failed=[ItemFailure.from_dict(f) for f in data["failed"]],
            vanished=list(data["vanished"]),
        )


def _export_one(
    client: WorkspaceClient, staging: StagingStore, obj: ListedObject
) -> tuple[ListedObject, str | WorkspaceError]:
    """``(obj, blob id)`` once staged, or ``(obj, error)`` for a per-object error."""
    try:
        content = client.export(obj.workspace_path)
    except FATAL_ERRORS:
        raise
    except WorkspaceError as exc:
        return obj, exc
    return obj, staging.put(content)


def export_engagement(
    client: WorkspaceClient, changes: EngagementChanges, staging: StagingStore
) -> ExportResult:
    """Export ``changes.to_export`` concurrently; per-object errors that retrying cannot fix are recorded.

    Auth errors and rate limiting beyond the retry budget raise at once; objects that still failed
    transiently (5xx, dropped connections) after their retry budget raise once the rest is staged,
    so the engagement's task fails and its retry (or a clear in the UI) exports it again as a whole.
    """
    result = ExportResult(changes.partition, deletions=list(changes.deleted), failed=list(changes.failed))
    transient: list[tuple[str, TransientError]] = []
    for obj, outcome in client.map_concurrent(partial(_export_one, client, staging), changes.to_export):
        if isinstance(outcome, str):
            result.upserts.append(obj.manifest_entry(outcome))
            result.unchanged_after_export += outcome == obj.previous_blob_id
        elif isinstance(outcome, NotFoundError) and obj.previous_blob_id:
            result.deletions.append(obj.repo_path)
        elif isinstance(outcome, NotFoundError):
            result.vanished.append(obj.workspace_path)
        elif isinstance(outcome, TransientError):
            transient.append((obj.workspace_path, outcome))
        else:
            result.failed.append(ItemFailure(obj.workspace_path, str(outcome)))
    if transient:
        path, error = min(transient, key=lambda t: t[0])
        raise TransientError(
            f"{len(transient)} of {len(changes.to_export)} objects of {changes.partition!r} could not be "
            f"exported after retries, e.g. {path}: {error}"
        )
    result.upserts.sort(key=lambda e: e.repo_path)
    result.deletions.sort()
    result.failed.sort(key=lambda f: f.path)
    result.vanished.sort()
    return result
