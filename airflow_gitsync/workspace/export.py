"""Export one engagement's changed objects into a blob sink (the task's pack), with an outcome per object."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Protocol

from airflow_gitsync.diff import EngagementChanges, FolderRule, ItemFailure, ListedObject
from airflow_gitsync.errors import FATAL_ERRORS, NotFoundError, TransientError, WorkspaceError
from airflow_gitsync.layout import root_of
from airflow_gitsync.manifest import ManifestEntry
from airflow_gitsync.workspace.client import WorkspaceClient
from airflow_gitsync.workspace.folder_export import export_folder
from airflow_gitsync.workspace.progress import Progress


class BlobSink(Protocol):
    """Where exported content goes: a task's :class:`~airflow_gitsync.git.packs.PackWriter` (or any
    store that names content by its git blob id)."""

    def put(self, content: bytes) -> str: ...


@dataclass(slots=True)
class ExportResult:
    """What the commit needs from one engagement.

    ``upserts`` are in the task's pack under their blob id and carry the *listed* ``modified_at``, so
    an object changed during the export is exported again next run. ``deletions`` are repo paths: the scan's
    plus objects in the manifest that vanished before export (a new object that vanished is
    neither). ``added``, ``modified`` and ``unchanged`` count the upserts by what they do to the
    content: an export whose blob did not change (only its ``modified_at`` moved) is ``unchanged``.
    ``failed`` objects keep their manifest entry and are retried next run. ``folder_export``: the
    engagement was exported as one folder; ``fallback``: why some or all of its objects were
    exported one by one instead. :meth:`counts` is the report's view.
    """

    engagement: str
    upserts: list[ManifestEntry] = field(default_factory=list)
    deletions: list[str] = field(default_factory=list)
    added: int = 0
    modified: int = 0
    unchanged: int = 0
    failed: list[ItemFailure] = field(default_factory=list)
    folder_export: bool = False
    fallback: str | None = None

    def counts(self) -> ExportResult:
        """This result without its upserts, which the report does not read (a first sync's are 20 MB
        of XCom); deletions stay, as few as the notebooks deleted."""
        return replace(self, upserts=[])


def _export_one(
    client: WorkspaceClient, sink: BlobSink, obj: ListedObject
) -> tuple[ListedObject, str | WorkspaceError]:
    """``(obj, blob id)`` once in ``sink``, or ``(obj, error)`` for a per-object error."""
    try:
        content = client.export(obj.workspace_path)
    except FATAL_ERRORS:
        raise
    except WorkspaceError as exc:
        return obj, exc
    return obj, sink.put(content)


def _engagement_folder(changes: EngagementChanges) -> str:
    """The workspace folder of a two-level engagement with objects to export (``/Clients/2024/ENG-101``)."""
    obj = changes.to_export[0]
    root = root_of(obj.workspace_path, obj.repo_path).rstrip("/")
    year, engagement = obj.workspace_path[len(root) + 1 :].split("/")[:2]
    return f"{root}/{year}/{engagement}"


def _record(result: ExportResult, obj: ListedObject, outcome: str | WorkspaceError, transient: list) -> None:
    """Account for one object's export: put under a blob id, gone, or failed."""
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


def export_engagement(
    client: WorkspaceClient,
    changes: EngagementChanges,
    sink: BlobSink,
    progress: Progress | None = None,
    folder_rule: FolderRule | None = None,
) -> ExportResult:
    """Export ``changes.to_export``; per-object errors that retrying cannot fix are recorded.

    An engagement that ``folder_rule`` picks (None: none) is exported as one folder
    (:mod:`.folder_export`); what the zip cannot vouch for, and everything else, is exported one
    object at a time, concurrently. Auth errors and rate limiting beyond the
    retry budget raise at once; objects that still failed transiently (5xx, dropped connections)
    after their retry budget raise once the rest is staged, so the engagement's task fails and its
    retry (or a clear in the UI) exports it again as a whole.
    """
    result = ExportResult(changes.engagement, deletions=list(changes.deleted), failed=list(changes.failed))
    transient: list[tuple[str, TransientError]] = []
    todo = changes.to_export
    if folder_rule and changes.folder_export(folder_rule):
        exported = export_folder(client, _engagement_folder(changes), todo, changes.listed)
        result.folder_export, result.fallback = True, exported.fallback
        for obj in todo:
            if obj.workspace_path in exported.content:
                _record(result, obj, sink.put(exported.content[obj.workspace_path]), transient)
                if progress:
                    progress.advance()
        todo = exported.rest
    for obj, outcome in client.map_concurrent(partial(_export_one, client, sink), todo):
        if progress:
            progress.advance()
        _record(result, obj, outcome, transient)
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


ENGAGEMENTS_IN_FLIGHT = 8
log = logging.getLogger(__name__)


def export_engagements(
    client: WorkspaceClient,
    engagements: Sequence[EngagementChanges],
    sink: BlobSink,
    folder_rule: FolderRule | None = None,
) -> tuple[list[ExportResult], list[WorkspaceError]]:
    """Export several engagements side by side: the result of each that succeeded, the error of each
    that failed.

    Side by side, a task of many small engagements keeps the client's workers busy instead of
    waiting out each engagement's last round trip. An error that concerns the whole task
    (:data:`FATAL_ERRORS`) cancels the engagements not yet started, so they do not each spend their
    own retry budget on it, and is raised.
    """
    results: list[ExportResult] = []
    errors: list[WorkspaceError] = []
    progress = Progress("export", sum(len(e.to_export) for e in engagements), client.stats, log)
    fatal = threading.Event()

    def run(engagement: EngagementChanges) -> ExportResult | None:
        if fatal.is_set():
            return None  # cancelled: the error that set it is raised
        try:
            return export_engagement(client, engagement, sink, progress, folder_rule)
        except FATAL_ERRORS:
            fatal.set()
            raise

    pool = ThreadPoolExecutor(max_workers=ENGAGEMENTS_IN_FLIGHT, thread_name_prefix="engagement")
    try:
        futures = [pool.submit(run, e) for e in engagements]
        for future in futures:
            try:
                result = future.result()
            except FATAL_ERRORS:
                pool.shutdown(wait=True, cancel_futures=True)
                raise
            except WorkspaceError as error:
                errors.append(error)
            else:
                if result is not None:
                    results.append(result)
    finally:
        pool.shutdown(wait=True)
    progress.finish()
    return results, errors
