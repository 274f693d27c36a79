"""Build a backup's commits in the mirror: trees from blob ids and a manifest per commit, with
``git fast-import``, on top of the branch being backed up. Nothing here moves a ref on the remote."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from airflow_gitsync.blob import check_blob_id, git_blob_id
from airflow_gitsync.compat import UTC
from airflow_gitsync.git import repo_files
from airflow_gitsync.git.commit_plan import Change, ChangeSet, CommitInfo, batches, plan_changes
from airflow_gitsync.git.fast_import import FastImport
from airflow_gitsync.git.mirror import Mirror
from airflow_gitsync.manifest import MANIFEST_PATH, ManifestError, ManifestFile
from airflow_gitsync.messages import commit_message


@dataclass(frozen=True)
class Built:
    """The commits written (none when the changes change nothing), the bytes of new objects each adds
    (:meth:`Mirror.commit_sizes`) and how many files they write."""

    commits: list[str]
    sizes: list[int]
    imported: int


def git_time(iso_time: str) -> str:
    """An ISO 8601 time as git's ``<epoch> +0000`` (naive times are UTC)."""
    moment = datetime.fromisoformat(iso_time)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return f"{int(moment.timestamp())} +0000"


def manifest_at(mirror: Mirror, commit: str | None, where: str = "") -> ManifestFile:
    """The manifest at ``commit`` (empty without one); a bad one names ``where`` it was read."""
    try:
        return ManifestFile(mirror.read_file(commit, MANIFEST_PATH) or b"")
    except ManifestError as exc:
        raise ManifestError(f"{where or 'commit'} ({commit}): {exc}") from exc


def build_commits(
    mirror: Mirror,
    changes: ChangeSet,
    info: CommitInfo,
    base: str | None,
    base_name: str,
    *,
    ident: str,
    when: str,
    batch_size: int,
    log: logging.Logger,
) -> Built:
    """Write the commits for ``changes`` on ``base`` (branch ``base_name``), at most ``batch_size``
    changes each with its own manifest. A run that changed nothing reads only the files the backup
    owns from the base tree, and no manifest. Every upsert's blob must be in the mirror."""
    for entry in changes.upserts:
        check_blob_id(entry.blob_id)
    unchanged = not changes.upserts and not changes.deletions and base is not None
    listed = mirror.ls_tree(base, repo_files.FILES if unchanged else ())
    tree = {path: object_id for path, (_, object_id) in listed.items()}
    owned = {path: data for path, data in repo_files.FILES.items() if tree.get(path) != git_blob_id(data)}
    if unchanged and not owned:
        return Built([], [], 0)
    manifest = manifest_at(mirror, base, base_name)
    planned = plan_changes(changes, manifest, tree)
    if not planned and not owned and base is not None:
        return Built([], [], 0)
    parts = list(batches(planned, batch_size)) or [[]]  # an empty remote gets a root commit
    with FastImport(mirror.git, "refs/gitsync/build") as stream:
        manifests = _write_manifests(stream, parts, manifest)
        marks = []
        for number, part in enumerate(parts, start=1):
            message = commit_message(part, info, number, len(parts))
            marks.append(stream.begin_commit(ident=ident, when=when, message=message, parent=base))
            base = None  # later parts follow the previous one
            if number == 1:
                for path, data in owned.items():
                    stream.put(path, data)
            _write_part(stream, part)
            stream.put_object(MANIFEST_PATH, f":{manifests[number - 1]}")
        ids = stream.finish()
    commits = [ids[mark] for mark in marks]
    sizes = mirror.commit_sizes(commits)
    log.info(
        "built %d commit(s) for %d change(s), %.1f MiB of new objects: %s",
        len(commits), len(planned), sum(sizes) / 2**20, " ".join(commits),
    )  # fmt: skip
    return Built(commits, sizes, sum(change.entry is not None for change in planned))


def _write_manifests(stream: FastImport, parts: list[list[Change]], manifest: ManifestFile) -> list[int]:
    """Each part's manifest as a blob, one after the other, so fast-import stores each but the first
    as a small delta against the previous one; returns their marks."""
    lines = manifest.edit()
    marks = []
    for part in parts:
        for change in part:
            lines.put(change.path, change.entry)
        marks.append(stream.blob(lines.dump()))
    return marks


def _write_part(stream: FastImport, part: Iterable[Change]) -> None:
    """The part's changes; every blob they point at is in the mirror."""
    for change in part:
        if change.entry is None:
            stream.delete(change.path)
        else:
            stream.put_object(change.path, change.entry.blob_id)
