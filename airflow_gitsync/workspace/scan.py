"""Scan one year (a top-level folder under the root, or the root's loose objects) and diff it.

The result is per engagement: what to export, what was deleted, what failed. Listing
errors are per folder; an engagement with a failed folder fails as a whole and deletes nothing.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from airflow_gitsync import layout
from airflow_gitsync.diff import EngagementChanges, ItemFailure, ListedObject, diff_engagement
from airflow_gitsync.manifest import ManifestEntry
from airflow_gitsync.results import TaskMetrics
from airflow_gitsync.workspace.client import WorkspaceClient, WorkspaceError
from airflow_gitsync.workspace.progress import Progress

log = logging.getLogger(__name__)
BACKED_UP_TYPES = frozenset({layout.NOTEBOOK, layout.FILE})


@dataclass(slots=True)
class ScanResult:
    """One year's scan: its engagements' changes (only those with work), the number of unchanged
    objects, skipped object counts by type, warnings for the run report, failed folder listings;
    as a task result also the API counters and the task's metrics."""

    year: str
    engagements: list[EngagementChanges] = field(default_factory=list)
    unchanged: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    failed_listings: list[ItemFailure] = field(default_factory=list)
    api: dict[str, dict[str, float]] = field(default_factory=dict)
    metrics: TaskMetrics | None = None


def year_path(root: str, year: str) -> str:
    return root.rstrip("/") + (f"/{year}" if year else "")


def list_years(client: WorkspaceClient, root: str) -> list[str]:
    """The top-level folder names under ``root``, and ``""`` first if objects lie directly in it."""
    objects = client.list(root)
    folders = sorted(o["path"].rsplit("/", 1)[-1] for o in objects if o["object_type"] == layout.DIRECTORY)
    loose = any(o["object_type"] != layout.DIRECTORY for o in objects)
    return [""] * loose + folders


def _list_year(client: WorkspaceClient, root: str, year: str) -> tuple[list[dict], dict[str, WorkspaceError]]:
    """Every object of the year (folders included) and the folders whose listing failed."""
    if not year:
        return [o for o in client.list(root) if o["object_type"] != layout.DIRECTORY], {}
    failures: dict[str, WorkspaceError] = {}
    progress = Progress(f"list {year_path(root, year)}", None, client.stats, log)
    objects = []
    for obj in client.walk(year_path(root, year), on_error=failures.__setitem__):
        objects.append(obj)
        progress.advance()
    progress.finish()
    if year_path(root, year) in failures:
        raise failures[year_path(root, year)]
    return objects, failures


def _engagement(root: str, path: str, is_folder: bool = False) -> str:
    """The engagement of a workspace object (or folder), named as in the repository."""
    try:
        parts = layout.repo_parts(root, path)
    except layout.UnsafePathError:
        parts = tuple(path[len(root.rstrip("/")) + 1 :].split("/"))
    return layout.engagement_of([*parts, ""] if is_folder else parts)


def scan_year(
    client: WorkspaceClient,
    root: str,
    year: str,
    manifest: dict[str, ManifestEntry],
    *,
    full_scan: bool = False,
    repo_year: str | None = None,
) -> ScanResult:
    """List ``year`` and diff each of its engagements against ``manifest`` (the year's entries).

    ``repo_year`` is the year's name in the repository (default: ``year`` escaped by
    :func:`~airflow_gitsync.layout.safe_name`).

    A failure to list the year folder itself raises: there is no engagement to pin it on. A year
    that no longer exists lists as empty (its entries are deleted), after checking that the root
    itself is there.
    """
    if repo_year is None:
        repo_year = layout.safe_name(year, top_level=True) if year else ""
    stray = sorted(p for p in manifest if layout.year_of(layout.engagement_of(p.split("/"))) != repo_year)
    if stray:
        raise ValueError(f"manifest slice for year {year!r} holds other paths: {stray[:3]}")
    objects, folder_errors = _list_year(client, root, year)
    if not objects and manifest:
        client.get_status(root)  # raises NotFoundError rather than deleting a whole year on a bad root
    result = ScanResult(year)
    skipped: Counter[str] = Counter()
    listed: dict[str, list[ListedObject]] = defaultdict(list)
    failures: dict[str, list[ItemFailure]] = defaultdict(list)
    listing_failures: dict[str, list[ItemFailure]] = defaultdict(list)
    outside: dict[str, list[str]] = defaultdict(list)
    for folder, error in folder_errors.items():
        failure = ItemFailure(folder, f"listing failed: {error}")
        listing_failures[_engagement(root, folder, is_folder=True)].append(failure)
        result.failed_listings.append(failure)
    for obj in objects:
        object_type, path = obj["object_type"], obj["path"]
        if object_type == layout.DIRECTORY:
            continue
        if object_type not in BACKED_UP_TYPES:
            skipped[object_type] += 1
            continue
        engagement = _engagement(root, path)
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
            failures[engagement].append(ItemFailure(path, str(exc)))
            continue
        listed[engagement].append(listed_object)
        if not layout.in_layout(listed_object.repo_path.split("/")):
            outside[engagement].append(path)

    by_engagement: dict[str, dict[str, ManifestEntry]] = defaultdict(dict)
    for repo_path, entry in manifest.items():
        by_engagement[layout.engagement_of(repo_path.split("/"))][repo_path] = entry
    for engagement in sorted(set(listed) | set(failures) | set(listing_failures) | set(by_engagement)):
        changes = diff_engagement(
            engagement,
            listed[engagement],
            by_engagement[engagement],
            failures=listing_failures[engagement] + failures[engagement],
            listing_failed=bool(listing_failures[engagement]),
            full_scan=full_scan,
        )
        result.unchanged += changes.unchanged
        if changes.has_work:
            result.engagements.append(changes)
        if outside[engagement]:
            result.warnings.append(
                f"{len(outside[engagement])} object(s) of engagement {engagement!r} lie outside "
                f"{{year}}/{{engagement}}/NOTEBOOKS/ (backed up anyway), e.g. {outside[engagement][0]}"
            )
    all_paths = (o.repo_path for objs in listed.values() for o in objs)
    for group in layout.case_collisions(all_paths):
        result.warnings.append(f"paths differing only by case clash on Windows/macOS clones: {group}")
    result.skipped = dict(sorted(skipped.items()))
    return result
