"""Scan one year (a top-level folder under the root, or the root's loose objects) and diff it.

The result is per engagement: what to export, what was deleted, what failed. Listing
errors are per folder; an engagement with a failed folder fails as a whole and deletes nothing.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field

from airflow_gitsync import layout
from airflow_gitsync.diff import (
    LISTING_FAILED,
    EngagementChanges,
    FolderRule,
    ItemFailure,
    ListedObject,
    diff_engagement,
)
from airflow_gitsync.errors import FATAL_ERRORS, NotFoundError, WorkspaceError
from airflow_gitsync.manifest import ManifestEntry
from airflow_gitsync.workspace.client import WorkspaceClient
from airflow_gitsync.workspace.export import ENGAGEMENTS_IN_FLIGHT, ExportResult
from airflow_gitsync.workspace.progress import Progress

log = logging.getLogger(__name__)
BACKED_UP_TYPES = frozenset({layout.NOTEBOOK, layout.FILE})
ENGAGEMENTS_LISTED_AT_ONCE = 16


@dataclass(slots=True)
class ScanResult:
    """One year's scan: its engagements' changes (only those with work and not exported during the
    scan), the number of unchanged objects, skipped object counts by type, warnings for the run
    report, failed folder listings."""

    year: str
    engagements: list[EngagementChanges] = field(default_factory=list)
    unchanged: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    failed_listings: list[ItemFailure] = field(default_factory=list)


def year_path(root: str, year: str) -> str:
    return root.rstrip("/") + (f"/{year}" if year else "")


def list_years(client: WorkspaceClient, root: str) -> list[str]:
    """The top-level folder names under ``root``, and ``""`` first if objects lie directly in it."""
    objects = client.list(root)
    folders = sorted(o["path"].rsplit("/", 1)[-1] for o in objects if o["object_type"] == layout.DIRECTORY)
    loose = any(o["object_type"] != layout.DIRECTORY for o in objects)
    return [""] * loose + folders


def _engagement(root: str, path: str, is_folder: bool = False) -> str:
    """The engagement of a workspace object (or folder), named as in the repository."""
    try:
        parts = layout.repo_parts(root, path)
    except layout.UnsafePathError:
        parts = tuple(path[len(root.rstrip("/")) + 1 :].split("/"))
    return layout.engagement_of([*parts, ""] if is_folder else parts)


def _list_engagements(
    client: WorkspaceClient, root: str, year: str
) -> Iterator[tuple[str, list[dict], dict[str, WorkspaceError]]]:
    """``(engagement, its objects, its folders whose listing failed)``, each engagement as soon as its
    whole folder is listed; the year's loose objects come first as the engagement named by the year.

    Engagements are walked side by side, so the first ones are complete (and can be exported) while
    the rest of the year is still being listed. A failure to list the year folder itself raises; a
    year folder that vanished lists as empty, once the root itself is found (a wrong root raises
    NotFoundError rather than deleting a whole year).
    """
    if not year:
        objects = [o for o in client.list(root) if o["object_type"] != layout.DIRECTORY]
        yield "", objects, {}
        return
    try:
        top = client.list(year_path(root, year))
    except NotFoundError:
        client.get_status(root)
        top = []
    folders = [o["path"] for o in top if o["object_type"] == layout.DIRECTORY]
    loose = [o for o in top if o["object_type"] != layout.DIRECTORY]
    if loose:
        yield _engagement(root, loose[0]["path"]), loose, {}

    def walk(folder: str) -> tuple[str, list[dict], dict[str, WorkspaceError]]:
        failures: dict[str, WorkspaceError] = {}
        objects = list(client.walk(folder, on_error=failures.__setitem__))
        return _engagement(root, folder, is_folder=True), objects, failures

    with ThreadPoolExecutor(ENGAGEMENTS_LISTED_AT_ONCE, thread_name_prefix="list") as pool:
        futures = [pool.submit(walk, folder) for folder in folders]
        try:
            for future in as_completed(futures):
                yield future.result()
        finally:
            for future in futures:
                future.cancel()


def scan_year(
    client: WorkspaceClient,
    root: str,
    year: str,
    manifest: Mapping[str, ManifestEntry] | Callable[[], Mapping[str, ManifestEntry]],
    *,
    full_scan: bool = False,
    repo_year: str | None = None,
    export: Callable[[EngagementChanges], ExportResult] | None = None,
    folder_rule: FolderRule | None = None,
) -> tuple[ScanResult, list[ExportResult]]:
    """List ``year`` and diff each of its engagements against ``manifest`` (the year's entries).

    ``manifest`` may be a function that loads it: it is then called beside the first listing calls
    (parsing a year's 20,000 records takes longer than listing its first engagements), so that the
    rate-bound listing starts at once.

    ``repo_year`` is the year's name in the repository (default: ``year`` escaped by
    :func:`~airflow_gitsync.layout.safe_name`).

    With ``export``, each engagement with work is exported as soon as it is listed, while the rest
    of the year is still being listed (the two draw on separate rate limits): the scan returns those
    exports beside its result, whose ``engagements`` keeps only those left for the export tasks: a
    listing that failed, an export that failed, and the engagements ``folder_rule`` exports as one
    folder (the bulk of a first sync: CPU-heavy, so spread over the export tasks and the workers that
    run them). Without ``export``, ``engagements`` holds every engagement with work and the exports
    are empty.

    A failure to list the year folder itself raises: there is no engagement to pin it on. A year
    that no longer exists lists as empty (its entries are deleted), after checking that the root
    itself is there.
    """
    if repo_year is None:
        repo_year = layout.safe_name(year, top_level=True) if year else ""
    loader = ThreadPoolExecutor(1, thread_name_prefix="manifest")
    grouping = loader.submit(_by_engagement, manifest, year, repo_year)
    loader.shutdown(wait=False)
    result = ScanResult(year)
    skipped: Counter[str] = Counter()
    repo_paths: list[str] = []
    progress = Progress(f"list {year_path(root, year)}", None, client.stats, log)
    exports: dict[Future, EngagementChanges] = {}
    pool = ThreadPoolExecutor(ENGAGEMENTS_IN_FLIGHT, thread_name_prefix="export")

    def settle(changes: EngagementChanges) -> None:
        result.unchanged += changes.unchanged
        if not changes.has_work:
            return
        if export is None or changes.listing_failures or (folder_rule and changes.folder_export(folder_rule)):
            result.engagements.append(changes)
        else:
            exports[pool.submit(export, changes)] = changes

    try:
        for engagement, objects, folder_errors in _list_engagements(client, root, year):
            progress.advance(len(objects))
            listed, failures, outside = _listed(root, objects, skipped)
            listing = [ItemFailure(f, f"{LISTING_FAILED}: {e}") for f, e in sorted(folder_errors.items())]
            result.failed_listings.extend(listing)
            repo_paths.extend(o.repo_path for o in listed)
            settle(
                diff_engagement(
                    engagement,
                    listed,
                    grouping.result().pop(engagement, {}),
                    failures=listing + failures,
                    listing_failed=bool(folder_errors),
                    full_scan=full_scan,
                )
            )
            if outside:
                result.warnings.append(
                    f"{len(outside)} object(s) of engagement {engagement!r} lie outside "
                    f"{{year}}/{{engagement}}/NOTEBOOKS/ (backed up anyway), e.g. {outside[0]}"
                )
        progress.finish()
        for engagement, entries in sorted(grouping.result().items()):  # gone from the workspace: deleted
            settle(diff_engagement(engagement, [], entries))
        exported = _collect(exports, result)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    result.engagements.sort(key=lambda e: e.engagement)
    result.failed_listings.sort(key=lambda f: f.path)
    result.warnings.sort()
    for group in layout.case_collisions(repo_paths):
        result.warnings.append(f"paths differing only by case clash on Windows/macOS clones: {group}")
    result.skipped = dict(sorted(skipped.items()))
    return result, exported


def _by_engagement(
    manifest: Mapping[str, ManifestEntry] | Callable[[], Mapping[str, ManifestEntry]],
    year: str,
    repo_year: str,
) -> dict[str, dict[str, ManifestEntry]]:
    """The year's manifest entries by engagement; a path of another year is refused."""
    entries = manifest() if callable(manifest) else manifest
    stray = sorted(p for p in entries if layout.year_of(layout.engagement_of(p.split("/"))) != repo_year)
    if stray:
        raise ValueError(f"manifest slice for year {year!r} holds other paths: {stray[:3]}")
    by_engagement: dict[str, dict[str, ManifestEntry]] = defaultdict(dict)
    for repo_path, entry in entries.items():
        by_engagement[layout.engagement_of(repo_path.split("/"))][repo_path] = entry
    return by_engagement


def _listed(
    root: str, objects: Iterable[dict], skipped: Counter[str]
) -> tuple[list[ListedObject], list[ItemFailure], list[str]]:
    """One engagement's listed notebooks and files, the objects whose name cannot be backed up, and
    the paths that lie outside the layout; other object types are counted in ``skipped``."""
    listed: list[ListedObject] = []
    failures: list[ItemFailure] = []
    outside: list[str] = []
    for obj in objects:
        object_type, path = obj["object_type"], obj["path"]
        if object_type == layout.DIRECTORY:
            continue
        if object_type not in BACKED_UP_TYPES:
            skipped[object_type] += 1
            continue
        try:
            listed_object = ListedObject(
                workspace_path=path,
                repo_path=layout.to_repo_path(root, path, object_type, obj.get("language")),
                object_id=int(obj["object_id"]),
                object_type=object_type,
                language=obj.get("language") if object_type == layout.NOTEBOOK else None,
                modified_at=obj.get("modified_at") or None,
            )
        except ValueError as exc:
            failures.append(ItemFailure(path, str(exc)))
            continue
        listed.append(listed_object)
        if not layout.in_layout(listed_object.repo_path.split("/")):
            outside.append(path)
    return listed, failures, outside


def _collect(exports: dict[Future, EngagementChanges], result: ScanResult) -> list[ExportResult]:
    """The results of the exports started during the scan. An engagement whose export failed is
    left in ``result`` for its export task; an error that concerns the whole task is raised."""
    exported: list[ExportResult] = []
    for future in as_completed(exports):
        try:
            exported.append(future.result())
        except FATAL_ERRORS:
            raise
        except WorkspaceError as exc:
            log.warning("engagement %r: left to its export task: %s", exports[future].engagement, exc)
            result.engagements.append(exports[future])
    return sorted(exported, key=lambda e: e.engagement)
