"""Restore: write a backup (a tag, branch or commit) back into the workspace. No Airflow import.

The manifest committed at the ref is the authority: it gives each file's workspace path, object
type, notebook language and blob id, so nothing is guessed from a file's extension. A file in the
selected part of the tree that the manifest does not describe makes the whole restore fail before
anything is written. Each object's bytes are checked against the manifest's blob id, its folder is
created, and it is imported (notebooks as ``SOURCE`` in their language, files as ``RAW``) under the
client's rate limits. Every object that is not restored is reported with its reason.

Whoever can push to the backup repository writes its manifest, so a line is trusted no further than
the layout allows: it is restored only to a normalised path below the backup's root (or below
``target_root``), the path its repo path was backed up from; any other line is refused and named.
"""

from __future__ import annotations

import reprlib
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial

from airflow_gitsync.blob import git_blob_id
from airflow_gitsync.diff import ItemFailure
from airflow_gitsync.errors import FATAL_ERRORS, WorkspaceError
from airflow_gitsync.git.mirror import Mirror
from airflow_gitsync.layout import (
    FILE,
    LANGUAGE_EXTENSIONS,
    NOTEBOOK,
    OWNED_ROOT_FILES,
    UnsafePathError,
    moved_to,
    root_of,
    to_repo_path,
)
from airflow_gitsync.manifest import MANIFEST_PATH, ManifestEntry, load_manifest
from airflow_gitsync.workspace.client import WorkspaceClient

IMPORT_FORMATS = {NOTEBOOK: "SOURCE", FILE: "RAW"}
ALREADY_EXISTS = "RESOURCE_ALREADY_EXISTS"
_STATE_DIR = MANIFEST_PATH.split("/")[0] + "/"
_LISTED = 20  # names shown in an error message
FOLDER_WORKERS = 4  # mkdirs calls in flight, ahead of the imports that need their folders
_NAMES = reprlib.Repr()
_NAMES.maxstring = 160  # characters of a name from the repository shown in a message


class RestoreError(ValueError):
    """The restore cannot be planned: unknown ref, no manifest, or a manifest that disagrees with the tree."""


@dataclass(frozen=True, slots=True)
class RestoreItem:
    """One object to write: its manifest entry and the workspace path it goes to."""

    entry: ManifestEntry
    target_path: str


@dataclass(frozen=True)
class RestorePlan:
    """What a restore writes, and the selected entries this backup cannot restore (with reasons)."""

    ref: str
    commit: str
    items: list[RestoreItem]
    failed: list[ItemFailure]

    def folders(self) -> list[str]:
        """The distinct parent folders of the targets (``mkdirs`` is idempotent and makes ancestors)."""
        return sorted({parent for item in self.items if (parent := item.target_path.rpartition("/")[0])})


@dataclass
class RestoreResult:
    """``restored`` objects written; ``failed`` (target path, reason) not written; ``skipped`` planned
    but not written by a dry run, whose target paths are in ``planned``."""

    ref: str
    commit: str
    dry_run: bool
    restored: int = 0
    failed: list[ItemFailure] = field(default_factory=list)
    skipped: int = 0
    planned: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @classmethod
    def merged(cls, results: Sequence[RestoreResult]) -> RestoreResult:
        """One result of restores from several repositories (commits joined by ``,``)."""
        if len(results) == 1:
            return results[0]
        return cls(
            ref=results[0].ref if len({r.ref for r in results}) == 1 else ", ".join(r.ref for r in results),
            commit=",".join(r.commit for r in results),
            dry_run=results[0].dry_run,
            restored=sum(r.restored for r in results),
            failed=[f for r in results for f in r.failed],
            skipped=sum(r.skipped for r in results),
            planned=[p for r in results for p in r.planned],
            seconds=sum(r.seconds for r in results),
        )

    def summary(self, shown: int = 50) -> str:
        """For the task log: the counts, then the first ``shown`` paths a dry run lists and failures."""
        mode = " (dry run)" if self.dry_run else ""
        lines = [
            f"Restore of {self.ref} (commit {self.commit}){mode}: {self.restored:,} restored, "
            f"{len(self.failed):,} failed, {self.skipped:,} skipped in {self.seconds:.1f} s"
        ]
        lines += [f"  would write {path}" for path in self.planned[:shown]]
        lines += [f"  FAILED {f.path}: {f.reason}" for f in self.failed[:shown]]
        if len(self.failed) > shown or len(self.planned) > shown:
            lines.append("  ... (the full lists are in the task's XCom)")
        return "\n".join(lines)


def shown(name: str) -> str:
    """A name from the repository or the workspace for a message: as it is when short and printable,
    else quoted, its control characters escaped, cut to a bounded length."""
    return name if len(name) <= _NAMES.maxstring and name.isprintable() else _NAMES.repr(name)


def backup_root(manifest: Iterable[ManifestEntry]) -> str | None:
    """The workspace folder a backup was made from: the one most of its manifest's lines were backed
    up from (:func:`~airflow_gitsync.layout.root_of`; None for an empty manifest). Lines of any other
    root are refused by :func:`entry_problem`."""
    roots = Counter(root_of(e.workspace_path, e.repo_path) for e in manifest)
    return roots.most_common(1)[0][0] if roots else None


def unlisted(manifest: Mapping[str, ManifestEntry], tree: Iterable[str]) -> list[str]:
    """The files of a backup commit's ``tree`` that its manifest does not list, other than the backup's
    own (``README.md``, ``.gitattributes``, ``.gitsync/``), sorted."""
    return sorted(
        p for p in tree if p not in manifest and not p.startswith(_STATE_DIR) and p not in OWNED_ROOT_FILES
    )


def _not_normalised(path: str) -> str | None:
    """Why ``path`` is not a normalised absolute workspace path, or None."""
    if not path.startswith("/"):
        return "not an absolute path"
    dots = [part for part in path[1:].split("/") if part in ("", ".", "..")] if path != "/" else []
    return f"component {dots[0]!r} is not a name" if dots else None


def entry_problem(entry: ManifestEntry, root: str, tree_blob: str | None) -> str | None:
    """Why a manifest line cannot be restored, or None.

    Its object type or notebook language is not one restore imports; its workspace path is not
    normalised, not below the backup's ``root``, or not the path its repo path was backed up from
    (:func:`~airflow_gitsync.layout.to_repo_path`): then it is refused; or ``tree_blob``, the blob at
    its repo path in the commit (None: none), is not its blob.
    """
    if entry.object_type not in IMPORT_FORMATS:
        return f"object type {shown(entry.object_type)} cannot be restored"
    if entry.object_type == NOTEBOOK and entry.language not in LANGUAGE_EXTENSIONS:
        return (
            f"notebook language {shown(str(entry.language))} is not one of {', '.join(LANGUAGE_EXTENSIONS)}"
        )
    where = f"refused, workspace path {shown(entry.workspace_path)}"
    if reason := _not_normalised(entry.workspace_path):
        return f"{where}: {reason}"
    try:
        expected = to_repo_path(root, entry.workspace_path, entry.object_type, entry.language)
    except UnsafePathError as exc:
        return f"{where}: {exc.reason}"
    if expected != entry.repo_path:
        return f"{where} is backed up as {shown(expected)}, not as this repo path"
    if tree_blob is None:
        return "in the manifest but not in the backup's tree"
    if tree_blob != entry.blob_id:
        return f"blob {tree_blob} in the tree, {entry.blob_id} in the manifest"
    return None


def _selected(path: str, prefixes: Sequence[str]) -> bool:
    return not prefixes or any(path == p or path.startswith(p + "/") for p in prefixes)


def plan_items(
    manifest: Mapping[str, ManifestEntry],
    tree: Mapping[str, str],
    prefixes: Sequence[str] = (),
    target_root: str | None = None,
) -> tuple[list[RestoreItem], list[ItemFailure]]:
    """The items to write and the entries that cannot be (:func:`entry_problem`), from a manifest and
    its tree.

    :param tree: ``{repo path: blob id}`` of the files in the backup commit.
    :param prefixes: repo paths of folders (``2024/ENG-101``) or files to restore; empty: everything.
        Each must select something.
    :param target_root: write under this folder instead of the original paths: an entry's repo path
        (its workspace path below the backup root, by its original name) is placed below it.
    :raises RestoreError: ``target_root`` is not normalised, a prefix selects nothing, or selected
        files are missing from the manifest.
    """
    if target_root is not None and (reason := _not_normalised(target_root)):
        raise RestoreError(f"target_root {target_root!r}: {reason}")
    prefixes = [p.strip("/") for p in prefixes]
    extra = unlisted(manifest, tree)
    unmatched = [p for p in prefixes if not any(_selected(path, [p]) for path in (*manifest, *extra))]
    if unmatched:
        raise RestoreError(f"paths select nothing in the backup: {', '.join(unmatched)}")
    untracked = [p for p in extra if _selected(p, prefixes)]
    if untracked:
        raise RestoreError(
            f"{len(untracked)} files in the backup are not in its manifest, so their type and language are "
            f"unknown: {', '.join(map(shown, untracked[:_LISTED]))}"
            + (" ..." if len(untracked) > _LISTED else "")
        )
    root = backup_root(manifest.values())
    items: list[RestoreItem] = []
    failed: list[ItemFailure] = []
    for path in sorted(p for p in manifest if _selected(p, prefixes)):
        entry = manifest[path]
        if reason := entry_problem(entry, root, tree.get(path)):
            failed.append(ItemFailure(shown(entry.workspace_path), f"{shown(path)}: {reason}"))
        else:
            target = (
                entry.workspace_path
                if target_root is None
                else moved_to(target_root, entry.workspace_path, path)
            )
            items.append(RestoreItem(entry, target))
    return items, failed


def resolve_ref(mirror: Mirror, ref: str) -> str:
    """The commit of ``ref``: a tag first, then a branch of the remote, then any revision (a commit id)."""
    commit = mirror.resolve(f"refs/tags/{ref}") or mirror.tracking(ref) or mirror.resolve(ref)
    if commit is None:
        raise RestoreError(f"ref {ref!r} is neither a tag, a branch nor a commit of the backup repository")
    return commit


def plan_restore(
    mirror: Mirror, ref: str, prefixes: Sequence[str] = (), target_root: str | None = None
) -> RestorePlan:
    """Plan from the manifest and tree at ``ref`` of a synced mirror; see :func:`plan_items`."""
    commit = resolve_ref(mirror, ref)
    data = mirror.read_file(commit, MANIFEST_PATH)
    if data is None:
        raise RestoreError(f"{ref} ({commit}) has no {MANIFEST_PATH}: not a backup commit")
    try:
        manifest = load_manifest(data)
    except ValueError as exc:
        raise RestoreError(f"{ref} ({commit}): {exc}") from exc
    tree = {path: object_id for path, (_, object_id) in mirror.ls_tree(commit).items()}
    items, failed = plan_items(manifest, tree, prefixes, target_root)
    return RestorePlan(ref, commit, items, failed)


def _attempt(subject: str, action: Callable[[], None]) -> tuple[str, str | None]:
    """``(subject, None)`` if ``action()`` succeeds, ``(subject, reason)`` on a per-object workspace error."""
    try:
        action()
    except FATAL_ERRORS:
        raise
    except WorkspaceError as exc:
        if exc.error_code == ALREADY_EXISTS:
            return subject, f"{ALREADY_EXISTS}: exists and overwrite is off ({exc})"
        return subject, str(exc)
    return subject, None


def _import(client: WorkspaceClient, overwrite: bool, item: RestoreItem, content: bytes) -> None:
    entry = item.entry
    if git_blob_id(content) != entry.blob_id:
        raise WorkspaceError(f"{entry.repo_path}: the backup's bytes do not match blob {entry.blob_id}")
    language = entry.language if entry.object_type == NOTEBOOK else None
    client.import_(item.target_path, content, language, IMPORT_FORMATS[entry.object_type], overwrite)


def _with_content(
    items: Sequence[RestoreItem], read_blob: Callable[[str], bytes]
) -> Iterator[tuple[RestoreItem, bytes]]:
    """Each item with its bytes, read lazily in the consuming thread (the reader is not thread-safe)."""
    for item in items:
        yield item, read_blob(item.entry.blob_id)


def _write(
    client: WorkspaceClient,
    overwrite: bool,
    folders: Mapping[str, Future[tuple[str, str | None]]],
    item: RestoreItem,
    content: bytes,
) -> tuple[str, str | None]:
    """Import ``item`` once its folder exists: ``(target path, None)``, or the reason it was not written."""
    folder = item.target_path.rpartition("/")[0]
    if folder in folders and (reason := folders[folder].result()[1]) is not None:
        return item.target_path, f"folder {folder}: {reason}"
    return _attempt(item.target_path, partial(_import, client, overwrite, item, content))


def restore(
    client: WorkspaceClient,
    mirror: Mirror,
    plan: RestorePlan,
    *,
    overwrite: bool = False,
    dry_run: bool = False,
) -> RestoreResult:
    """Create the plan's folders and import its items concurrently under the client's rate limits.

    The folders are created in order by a few threads of their own, ahead of the imports, and each
    import waits only for its own folder: the imports run at the import rate from the start, and
    the restore takes the time of its imports rather than of its folders plus its imports.

    Without ``overwrite`` an existing object is left alone and its item fails with
    ``RESOURCE_ALREADY_EXISTS``. Auth errors and rate limiting beyond the retry budget raise; any
    other error fails just its item (or, for a folder, the items in it).
    """
    started = time.monotonic()
    result = RestoreResult(plan.ref, plan.commit, dry_run, failed=list(plan.failed))
    if dry_run:
        result.planned = [item.target_path for item in plan.items]
        result.skipped = len(plan.items)
    else:
        pool = ThreadPoolExecutor(FOLDER_WORKERS, thread_name_prefix="mkdirs")
        try:
            folders = {
                folder: pool.submit(_attempt, folder, partial(client.mkdirs, folder))
                for folder in plan.folders()
            }
            mirror.fetch_blobs({item.entry.blob_id for item in plan.items}, f"{plan.commit}^{{tree}}")
            with mirror.blob_reader() as read_blob:
                for path, reason in client.map_concurrent(
                    lambda pair: _write(client, overwrite, folders, *pair),
                    _with_content(plan.items, read_blob),
                ):
                    if reason is None:
                        result.restored += 1
                    else:
                        result.failed.append(ItemFailure(path, reason))
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    result.failed.sort(key=lambda f: f.path)
    result.seconds = time.monotonic() - started
    return result
