"""Export one engagement's changed objects into the staging store, with an outcome per object."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

from airflow_gitsync.diff import EngagementChanges, ItemFailure, ListedObject
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
    """What the commit needs from one engagement.

    ``upserts`` are staged under their blob id and carry the *listed* ``modified_at``, so an object
    changed during the export is exported again next run. ``deletions`` are repo paths: the scan's
    plus objects in the manifest that vanished before export (a new object that vanished is
    neither). ``added``, ``modified`` and ``unchanged`` count the upserts by what they do to the
    content: an export whose blob did not change (only its ``modified_at`` moved) is ``unchanged``.
    ``failed`` objects keep their manifest entry and are retried next run.
    """

    engagement: str
    upserts: list[ManifestEntry] = field(default_factory=list)
    deletions: list[str] = field(default_factory=list)
    added: int = 0
    modified: int = 0
    unchanged: int = 0
    failed: list[ItemFailure] = field(default_factory=list)


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
    result = ExportResult(changes.engagement, deletions=list(changes.deleted), failed=list(changes.failed))
    transient: list[tuple[str, TransientError]] = []
    for obj, outcome in client.map_concurrent(partial(_export_one, client, staging), changes.to_export):
        if isinstance(outcome, str):
            result.upserts.append(obj.manifest_entry(outcome))
            if obj.previous_blob_id is None:
                result.added += 1
            elif outcome == obj.previous_blob_id:
                result.unchanged += 1
            else:
                result.modified += 1
        elif isinstance(outcome, NotFoundError):
            if obj.previous_blob_id:
                result.deletions.append(obj.repo_path)
        elif isinstance(outcome, TransientError):
            transient.append((obj.workspace_path, outcome))
        else:
            result.failed.append(ItemFailure(obj.workspace_path, str(outcome)))
    if transient:
        path, error = min(transient, key=lambda t: t[0])
        raise TransientError(
            f"{len(transient)} of {len(changes.to_export)} objects of {changes.engagement!r} could not be "
            f"exported after retries, e.g. {path}: {error}"
        )
    result.upserts.sort(key=lambda e: e.repo_path)
    result.deletions.sort()
    result.failed.sort(key=lambda f: f.path)
    return result
