"""Verify: compare a workspace folder with a backup, by listing and by content. No Airflow import.

By listing, per year and engagement, with the backup's own change detection
(:func:`~airflow_gitsync.workspace.scan.scan_year` against the backup's manifest): objects the
manifest lacks (the next backup adds them), entries no longer in the workspace (it removes them),
objects whose ``modified_at``, object id or language moved (it exports them again), objects without a
usable ``modified_at`` (every backup exports them). By content: each selected object is exported
afresh, hashed to its git blob id and compared with the manifest's. ``full`` selects every object
still in the workspace, ``sample`` a share of them picked by a seeded hash of the repo path, so the
same seed picks the same objects whichever task checks them. A content difference that the listing
does not explain (the object's ``modified_at`` did not move) is drift that no daily backup sees; a
``full_scan`` backup heals it. A selected object over Databricks' export limit (10 MB) is drift that
no backup heals: it is named as such, not as what a backup would do about it.

Another folder than the one the backup was made from (a restored copy) is compared by presence and
content only: a copy has object ids and timestamps of its own.

The backup commit itself is checked against its manifest from one ``git ls-tree -r``, without reading
a blob (:func:`backup_problems`): whoever can push to the repository can change either.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from airflow_gitsync.blob import git_blob_id
from airflow_gitsync.diff import ItemFailure, ListedObject
from airflow_gitsync.errors import FATAL_ERRORS, NotFoundError, TooLargeError, WorkspaceError
from airflow_gitsync.layout import engagement_of, moved_to, safe_name, year_of
from airflow_gitsync.manifest import ManifestEntry
from airflow_gitsync.restore import backup_root, entry_problem, shown, unlisted
from airflow_gitsync.workspace.client import WorkspaceClient
from airflow_gitsync.workspace.scan import scan_year

Kind = Literal["added", "deleted", "modified", "unknown-mtime", "content", "too-large"]
KINDS: tuple[Kind, ...] = ("added", "deleted", "modified", "unknown-mtime", "content", "too-large")
NEXT_RUN: dict[str, str] = {
    "added": "the next backup adds it",
    "deleted": "the next backup removes it from the backup",
    "modified": "the next backup exports it again",
    "unknown-mtime": "every backup exports it and compares its content",
    "content": "no daily backup will see this: run a backup with full_scan to heal it",
    "too-large": "no backup can export it (over Databricks' 10 MB export limit): the backup lacks it, or "
    "holds an older version, until the notebook is made smaller or split",
}
HEALED_BY_NEXT_RUN = ("added", "deleted", "modified", "unknown-mtime")
FULL = "full"
PROBLEMS_LISTED = 50  # problems of the backup commit named in the plan; the rest are counted
_FILE_MODE = "100644"  # the mode the backup writes every file with


@dataclass(frozen=True, slots=True)
class Drift:
    """One difference between the workspace and the backup: the repo path, its kind, what differs."""

    path: str
    kind: Kind
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Sample:
    """The objects whose content is compared: every one at ``share`` 1, else those whose hash of
    ``seed`` and repo path falls below ``share``."""

    share: float
    seed: int

    def __contains__(self, repo_path: str) -> bool:
        if self.share >= 1:
            return True
        digest = hashlib.sha256(f"{self.seed}\0{repo_path}".encode()).digest()
        return int.from_bytes(digest[:8], "big") < self.share * 2**64


@dataclass(frozen=True, slots=True)
class YearToVerify:
    """A year folder to list (its workspace name) and its name in the repository."""

    year: str
    repo_year: str


@dataclass(frozen=True, slots=True)
class ShardSource:
    """Where the years of one shard are read with a repository per year: the repository, the ref in it
    and the commit that ref named when the run was planned."""

    url: str
    ref: str
    commit: str


@dataclass(frozen=True)
class VerifyPlan:
    """What a run compares: the backup (ref, commit, the root it was made from), the workspace folder,
    the mode and its sample, and the years to check; and where the backup commit disagrees with its
    manifest (the first :data:`PROBLEMS_LISTED` of :func:`backup_problems`, and their number).

    With a repository per year, ``shards`` says where each shard's years are read (by shard, see
    :func:`~airflow_gitsync.shards.shard_of`); ``ref`` and ``commit`` then name them all (the
    commits comma-separated). Empty: the connection's single repository at ``commit``."""

    ref: str
    commit: str
    backup_root: str
    root: str
    mode: str
    sample: Sample
    years: list[YearToVerify]
    backup_problems: list[ItemFailure] = field(default_factory=list)
    backup_problem_count: int = 0
    shards: dict[str, ShardSource] = field(default_factory=dict)

    @property
    def same_root(self) -> bool:
        return self.root == self.backup_root


@dataclass
class YearCheck:
    """One year's outcome: objects listed and content-checked, the drift, what could not be verified."""

    year: str
    listed: int = 0
    checked: int = 0
    drift: list[Drift] = field(default_factory=list)
    failed: list[ItemFailure] = field(default_factory=list)


def backup_problems(
    manifest: Mapping[str, ManifestEntry], tree: Mapping[str, tuple[str, str]]
) -> tuple[list[ItemFailure], int]:
    """Where a backup commit disagrees with its manifest: the first :data:`PROBLEMS_LISTED` by repo
    path, and how many there are. A line whose file is missing, not a plain file or another blob, or
    that restore refuses (:func:`~airflow_gitsync.restore.entry_problem`); a file the manifest does not
    list, other than the backup's own.

    :param tree: ``{path: (mode, object id)}`` of every file of the commit (``git ls-tree -r``).
    """
    root = backup_root(manifest.values())
    problems = [
        ItemFailure(shown(path), "in the tree, not in the manifest") for path in unlisted(manifest, tree)
    ]
    for path, entry in manifest.items():
        mode, object_id = tree.get(path, (_FILE_MODE, None))
        reason = entry_problem(entry, root, object_id) or (
            f"mode {mode} in the tree, not a plain file" if mode != _FILE_MODE else None
        )
        if reason:
            problems.append(ItemFailure(shown(path), reason))
    return sorted(problems, key=lambda p: p.path)[:PROBLEMS_LISTED], len(problems)


def repo_year(entry: ManifestEntry) -> str:
    return year_of(engagement_of(entry.repo_path.split("/")))


def years_to_verify(listed: Iterable[str], manifest: Iterable[ManifestEntry]) -> list[YearToVerify]:
    """The years listed in the workspace, and those only the manifest has (deleted folders)."""
    names = {(safe_name(y, top_level=True) if y else ""): y for y in listed}
    for entry in manifest:
        names.setdefault(repo_year(entry), repo_year(entry))
    return [YearToVerify(year, repo) for repo, year in sorted(names.items(), key=lambda item: item[1])]


def _what_moved(obj: ListedObject, entry: ManifestEntry) -> str:
    if obj.reason == "unknown-mtime":
        return "no usable modified_at"
    if obj.object_id != entry.object_id:
        return f"object id {entry.object_id} -> {obj.object_id} (replaced)"
    if obj.language != entry.language:
        return f"language {entry.language} -> {obj.language}"
    return f"modified_at {entry.modified_at} -> {obj.modified_at}"


def _blob_of(client: WorkspaceClient, path: str) -> str | WorkspaceError:
    try:
        return git_blob_id(client.export(path))
    except FATAL_ERRORS:
        raise
    except WorkspaceError as exc:
        return exc


def verify_year(
    client: WorkspaceClient, plan: VerifyPlan, year: YearToVerify, manifest: Mapping[str, ManifestEntry]
) -> YearCheck:
    """List one year of ``plan.root``, diff it against its ``manifest`` entries, export the sampled
    objects and compare their blob ids. Auth errors and rate limiting beyond the retry budget raise;
    an object or folder that fails is reported as not verified."""
    scan, _ = scan_year(client, plan.root, year.year, dict(manifest), repo_year=year.repo_year)
    check = YearCheck(year.year, listed=scan.unchanged)
    unlisted: set[str] = set()  # engagements not listed completely: their entries are not verified
    moved: set[str] = set()
    for changes in scan.engagements:
        check.listed += len(changes.to_export)
        check.failed += changes.failed
        if changes.listing_failures:
            unlisted.add(changes.engagement)
        for obj in changes.to_export:
            if obj.reason == "added":
                check.drift.append(Drift(obj.repo_path, "added", obj.workspace_path))
                continue
            moved.add(obj.repo_path)
            if plan.same_root:
                kind = "unknown-mtime" if obj.reason == "unknown-mtime" else "modified"
                check.drift.append(Drift(obj.repo_path, kind, _what_moved(obj, manifest[obj.repo_path])))
        check.drift += [Drift(path, "deleted", manifest[path].workspace_path) for path in changes.deleted]
    gone = {d.path for d in check.drift if d.kind == "deleted"}
    failed = {f.path for f in check.failed}
    added = [
        (None, obj.workspace_path)
        for changes in scan.engagements
        for obj in changes.to_export
        if obj.reason == "added" and obj.repo_path in plan.sample
    ]
    selected = [
        (entry, where)
        for path, entry in sorted(manifest.items())
        if path not in gone
        and engagement_of(path.split("/")) not in unlisted
        and (where := moved_to(plan.root, entry.workspace_path, path)) not in failed
        and path in plan.sample
    ]
    repo_paths = {o.workspace_path: o.repo_path for c in scan.engagements for o in c.to_export}
    too_large: set[str] = set()
    for (entry, where), blob in client.map_concurrent(
        lambda pair: (pair, _blob_of(client, pair[1])), [*selected, *added]
    ):
        path = entry.repo_path if entry else repo_paths[where]
        if isinstance(blob, TooLargeError):
            too_large.add(path)
            check.drift.append(Drift(path, "too-large", f"{where}: {blob}"))
        elif isinstance(blob, NotFoundError):
            check.drift.append(Drift(path, "deleted", f"{where} vanished while verifying"))
        elif isinstance(blob, WorkspaceError):
            check.failed.append(ItemFailure(where, f"content not verified: {blob}"))
        elif entry is not None:
            check.checked += 1
            explained = plan.same_root and entry.repo_path in moved
            if blob != entry.blob_id and not explained:
                since = f"; modified_at {entry.modified_at} unchanged" if plan.same_root else ""
                detail = f"{where} exports as blob {blob}, the backup holds {entry.blob_id}{since}"
                check.drift.append(Drift(entry.repo_path, "content", detail))
    # what a backup would do about an object it cannot export is not what happens
    check.drift = [d for d in check.drift if d.kind not in HEALED_BY_NEXT_RUN or d.path not in too_large]
    check.drift.sort(key=lambda d: (d.path, d.kind))
    check.failed.sort(key=lambda f: f.path)
    return check
