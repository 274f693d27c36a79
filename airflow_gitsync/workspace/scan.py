"""Scan one unit (a top-level folder under the root, or the root's loose objects) and diff it.

The result is per partition (engagement): what to export, what was deleted, what failed. Listing
errors are per folder; a partition with a failed folder fails as a whole and deletes nothing.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from airflow_gitsync import layout
from airflow_gitsync.changes import EngagementChanges, ItemFailure, ListedObject, diff_partition
from airflow_gitsync.manifest import ManifestEntry
from airflow_gitsync.workspace.client import WorkspaceClient, WorkspaceError

BACKED_UP_TYPES = frozenset({layout.NOTEBOOK, layout.FILE})


@dataclass(slots=True)
class ScanResult:
    """One unit's scan: the partitions' changes (only those with work), the number of unchanged
    objects, skipped object counts by type, warnings for the run report, failed folder listings."""

    unit: str
    engagements: list[EngagementChanges] = field(default_factory=list)
    unchanged: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    failed_listings: list[ItemFailure] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "unit": self.unit,
            "engagements": [e.to_dict() for e in self.engagements],
            "unchanged": self.unchanged,
            "skipped": dict(self.skipped),
            "warnings": list(self.warnings),
            "failed_listings": [f.to_dict() for f in self.failed_listings],
        }

    @classmethod
    def from_dict(cls, data: dict) -> ScanResult:
        return cls(
            unit=data["unit"],
            engagements=[EngagementChanges.from_dict(e) for e in data["engagements"]],
            unchanged=data["unchanged"],
            skipped=dict(data["skipped"]),
            warnings=list(data["warnings"]),
            failed_listings=[ItemFailure.from_dict(f) for f in data["failed_listings"]],
        )


def unit_path(root: str, unit: str) -> str:
    return root.rstrip("/") + (f"/{unit}" if unit else "")


def list_scan_units(client: WorkspaceClient, root: str) -> list[str]:
    """The top-level folder names under ``root``, and ``""`` first if objects lie directly in it."""
    objects = client.list(root)
    folders = sorted(o["path"].rsplit("/", 1)[-1] for o in objects if o["object_type"] == layout.DIRECTORY)
    loose = any(o["object_type"] != layout.DIRECTORY for o in objects)
    return [""] * loose + folders


def _list_unit(client: WorkspaceClient, root: str, unit: str) -> tuple[list[dict], dict[str, WorkspaceError]]:
    """Every object of the unit (folders included) and the folders whose listing failed."""
    if not unit:
        return [o for o in client.list(root) if o["object_type"] != layout.DIRECTORY], {}
    failures: dict[str, WorkspaceError] = {}
    objects = list(client.walk(unit_path(root, unit), on_error=failures.__setitem__))
    if unit_path(root, unit) in failures:
        raise failures[unit_path(root, unit)]
    return objects, failures


def scan_unit(
    client: WorkspaceClient,
    root: str,
    unit: str,
    manifest: dict[str, ManifestEntry],
    *,
    full_scan: bool = False,
) -> ScanResult:
    """List ``unit`` and diff each of its partitions against ``manifest`` (the unit's entries).

    A failure to list the unit folder itself raises: there is no partition to pin it on. A unit
    that no longer exists lists as empty (its entries are deleted), after checking that the root
    itself is there.
    """
    stray = sorted(p for p in manifest if layout.unit_of(layout.partition_of(p.split("/"))) != unit)
    if stray:
        raise ValueError(f"manifest slice for scan unit {unit!r} holds other paths: {stray[:3]}")
    objects, folder_errors = _list_unit(client, root, unit)
    if not objects and manifest:
        client.get_status(root)  # raises NotFoundError rather than deleting a whole unit on a bad root
    prefix = root.rstrip("/") + "/"
    result = ScanResult(unit)
    skipped: Counter[str] = Counter()
    listed: dict[str, list[ListedObject]] = defaultdict(list)
    failures: dict[str, list[ItemFailure]] = defaultdict(list)
    listing_failures: dict[str, list[ItemFailure]] = defaultdict(list)
    outside: dict[str, list[str]] = defaultdict(list)
    for folder, error in folder_errors.items():
        failure = ItemFailure(folder, f"listing failed: {error}")
        listing_failures[layout.partition_of([*folder[len(prefix) :].split("/"), ""])].append(failure)
        result.failed_listings.append(failure)
    for obj in objects:
        object_type, path = obj["object_type"], obj["path"]
        if object_type == layout.DIRECTORY:
            continue
        if object_type not in BACKED_UP_TYPES:
            skipped[object_type] += 1
            continue
        partition = layout.partition_of(path[len(prefix) :].split("/"))
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
            failures[partition].append(ItemFailure(path, str(exc)))
            continue
        listed[partition].append(listed_object)
        if not layout.in_layout(listed_object.repo_path.split("/")):
            outside[partition].append(path)

    by_partition: dict[str, dict[str, ManifestEntry]] = defaultdict(dict)
    for repo_path, entry in manifest.items():
        by_partition[layout.partition_of(repo_path.split("/"))][repo_path] = entry
    for partition in sorted(set(listed) | set(failures) | set(listing_failures) | set(by_partition)):
        changes = diff_partition(
            partition,
            listed[partition],
            by_partition[partition],
            failures=listing_failures[partition] + failures[partition],
            listing_failed=bool(listing_failures[partition]),
            full_scan=full_scan,
            in_layout=not outside[partition],
        )
        result.unchanged += changes.unchanged
        if changes.has_work:
            result.engagements.append(changes)
        if outside[partition]:
            result.warnings.append(
                f"{len(outside[partition])} object(s) of partition {partition!r} lie outside "
                f"{{year}}/{{engagement}}/NOTEBOOKS/ (backed up anyway), e.g. {outside[partition][0]}"
            )
    all_paths = (o.repo_path for objs in listed.values() for o in objs)
    for group in layout.case_collisions(all_paths):
        result.warnings.append(f"paths differing only by case clash on Windows/macOS clones: {group}")
    result.skipped = dict(sorted(skipped.items()))
    return result
