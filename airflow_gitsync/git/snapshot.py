"""The snapshot engine: turn a change set whose blobs are in the mirror into pushed commits.

Everything happens in a bare mirror, without a working tree. The blobs are already there (the run's
staged packs, indexed by :meth:`Mirror.index_pack`); ``git fast-import`` writes the trees and commits
(manifest included) on them. The commits are pushed to the working branch, several per push while
their new objects fit in the push budget, merged into ``main`` and tagged. A large import is
repacked once everything is pushed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from airflow_gitsync.blob import check_blob_id, git_blob_id
from airflow_gitsync.git import repo_files
from airflow_gitsync.git.auth import GitAuth
from airflow_gitsync.git.commit_plan import (
    DEFAULT_BATCH_SIZE,
    Change,
    ChangeSet,
    CommitInfo,
    batches,
    commit_message,
    plan_changes,
)
from airflow_gitsync.git.fast_import import FastImport
from airflow_gitsync.git.mirror import Mirror, RefUpdate, mirror_dir
from airflow_gitsync.git.runner import GitError, GitPushRejected
from airflow_gitsync.git.sizes import DEFAULT_PUSH_BYTES, check_push_bytes, push_points, size_warning
from airflow_gitsync.manifest import MANIFEST_PATH, ManifestError, ManifestFile

__all__ = ["ChangeSet", "CommitInfo", "SnapshotEngine", "SnapshotResult"]

LARGE_IMPORT_BLOBS = 10_000  # a run writing this many files is pushed as stored and repacked whole


@dataclass(frozen=True)
class SnapshotResult:
    """What :meth:`SnapshotEngine.apply` did. ``head`` is the working branch's commit."""

    commits: list[str]
    head: str
    previous_head: str | None
    tag: str | None
    tag_created: bool
    merged_main: str | None
    pushed_bytes: int
    repo_size_bytes: int | None  # None: measured on a blobless mirror, which lacks most of the blobs
    size_warning: str | None
    changed: bool
    seconds: dict[str, float] = field(default_factory=dict)  # wall time per phase: build, push, repack


@dataclass
class _Tally:
    """What one :meth:`SnapshotEngine.apply` has done so far, across its attempts."""

    pushed: list[str] = field(default_factory=list)
    sent: int = 0
    imported: int = 0
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def bulk(self) -> bool:
        """A first sync's worth of new files: pushed as stored, then the mirror repacked whole."""
        return self.imported >= LARGE_IMPORT_BLOBS

    @contextmanager
    def timed(self, phase: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[phase] = self.seconds.get(phase, 0.0) + time.perf_counter() - start


class _ManifestLines:
    """The manifest being built on a base manifest file, whose lines it keeps as they are: the bytes
    ``dump_manifest`` gives for the result, when the base is a manifest it wrote."""

    def __init__(self, base: ManifestFile) -> None:
        self._lines = dict(base.lines)

    def apply(self, change: Change) -> None:
        if change.entry is None:
            self._lines.pop(change.path, None)
        else:
            self._lines[change.path] = change.entry.to_json().encode()

    def dump(self) -> bytes:
        lines = [self._lines[path] for path in sorted(self._lines)]
        return b"\n".join(lines) + b"\n" if lines else b""


def _git_time(iso_time: str) -> str:
    """An ISO 8601 time as git's ``<epoch> +0000`` (naive times are UTC)."""
    moment = datetime.fromisoformat(iso_time)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return f"{int(moment.timestamp())} +0000"


class SnapshotEngine:
    """Back up change sets into ``remote_url``: commits on ``working_branch``, merged into ``branch``."""

    def __init__(
        self,
        remote_url: str,
        auth: GitAuth | None = None,
        cache_dir: Path | str = Path(".gitsync-cache"),
        branch: str = "main",
        working_branch: str = "backup/daily",
        author: tuple[str, str] = ("airflow-gitsync", "airflow-gitsync@localhost"),
        logger: logging.Logger | None = None,
        max_attempts: int = 5,
    ) -> None:
        self.log = logger or logging.getLogger(__name__)
        self.remote_url = remote_url
        self.branch = branch
        self.working_branch = working_branch
        self.ident = f"{author[0]} <{author[1]}>"
        self.max_attempts = max_attempts
        self.mirror = Mirror(
            mirror_dir(Path(cache_dir), remote_url), remote_url, auth or GitAuth.none(), self.log
        )

    def sync(self) -> None:
        """Clone the bare mirror if missing, else fetch; safe to call repeatedly."""
        self.mirror.sync()

    def _base(self) -> str | None:
        return self.mirror.tracking(self.working_branch) or self.mirror.tracking(self.branch)

    def _base_name(self) -> str:
        return self.working_branch if self.mirror.tracking(self.working_branch) else self.branch

    def _manifest_at(self, commit: str | None, where: str = "") -> ManifestFile:
        try:
            return ManifestFile(self.mirror.read_file(commit, MANIFEST_PATH) or b"")
        except ManifestError as exc:
            raise ManifestError(f"{where or 'commit'} ({commit}): {exc}") from exc

    def manifest_file(self) -> bytes:
        """The manifest file at the working branch tip, else at main's tip, else ``b""`` (after sync),
        unparsed (:func:`~airflow_gitsync.manifest.load_manifest`)."""
        return self.mirror.read_file(self._base(), MANIFEST_PATH) or b""

    def apply(
        self,
        changes: ChangeSet,
        info: CommitInfo,
        batch_size: int = DEFAULT_BATCH_SIZE,
        tag: str | None = None,
        tag_message: str = "",
        dry_run: bool = False,
        push_bytes: int = DEFAULT_PUSH_BYTES,
    ) -> SnapshotResult:
        """Commit ``changes``, push them, merge into main and tag; see the module docstring. The blob
        of every upsert must be in the mirror (:meth:`Mirror.index_pack`).

        Each commit holds at most ``batch_size`` changes and its own manifest. Consecutive commits
        share one push while the on-disk bytes of the objects they add stay within ``push_bytes``
        (at most 1 GiB, far below Azure DevOps' 5 GB push limit); a commit larger than that is
        pushed alone. The remote thus always holds a prefix of the commits, each consistent.

        A push the remote rejects (it moved) is answered by fetching and planning the same change
        set again on the new tip; what was already pushed is then a no-op. ``dry_run`` builds the
        commits in the mirror but moves no ref, pushes nothing, merges and tags nothing. The mirror is
        held (:meth:`Mirror.lock`) from the first fetch to the last push.
        """
        check_push_bytes(push_bytes)
        with self.mirror.lock("a backup commit"):
            return self._apply(changes, info, batch_size, tag, tag_message, dry_run, push_bytes)

    def _apply(
        self,
        changes: ChangeSet,
        info: CommitInfo,
        batch_size: int,
        tag: str | None,
        tag_message: str,
        dry_run: bool,
        push_bytes: int,
    ) -> SnapshotResult:
        when = _git_time(info.capture_time)
        self.sync()
        previous_head = self.mirror.tracking(self.working_branch)
        tally = _Tally()
        for attempt in range(1, self.max_attempts + 1):
            try:
                base = self._base()
                with tally.timed("build"):
                    commits, sizes = self._build(changes, info, base, when, batch_size, tally)
                if dry_run:
                    return self._result(commits, commits[-1] if commits else base, previous_head, tally)
                with tally.timed("push"):
                    head = self._push_working_branch(commits, sizes, base, push_bytes, tally)
                    merged_main, main_update = self._merge_into_main(head, info, when)
                    tag_name, tag_created, tag_update = self._tag(tag, head, tag_message, when)
                    if updates := [u for u in (main_update, tag_update) if u]:
                        first, *rest = updates  # one push for both
                        tally.sent += self.mirror.push(*first, *rest, bulk=tally.bulk)
                break
            except GitPushRejected as exc:
                if attempt == self.max_attempts:
                    raise GitError(
                        f"the remote kept moving; gave up after {attempt} attempts: {exc}"
                    ) from exc
                self.log.warning("push rejected, the remote moved: fetching and rebuilding (%s)", exc)
                self.sync()
        if tally.pushed or merged_main or tag_created:
            with tally.timed("repack"):
                self.mirror.repack(full=tally.bulk)
        return self._result(tally.pushed, head, previous_head, tally, tag_name, tag_created, merged_main)

    def _result(
        self,
        commits: list[str],
        head: str | None,
        previous_head: str | None,
        tally: _Tally,
        tag: str | None = None,
        tag_created: bool = False,
        merged_main: str | None = None,
    ) -> SnapshotResult:
        size = None if self.mirror.partial else self.mirror.size_bytes()
        warning = None if size is None else size_warning(size)
        if warning:
            self.log.warning("%s", warning)
        return SnapshotResult(
            commits=commits, head=head or "", previous_head=previous_head, tag=tag, tag_created=tag_created,
            merged_main=merged_main, pushed_bytes=tally.sent, repo_size_bytes=size, size_warning=warning,
            changed=bool(tally.pushed), seconds=tally.seconds,
        )  # fmt: skip

    def _build(
        self,
        changes: ChangeSet,
        info: CommitInfo,
        base: str | None,
        when: str,
        batch_size: int,
        tally: _Tally,
    ) -> tuple[list[str], list[int]]:
        """Write the commits for ``changes`` on ``base`` (none when they change nothing); returns them
        and the bytes each adds (:meth:`Mirror.commit_sizes`). A run that changed nothing reads only
        the files the backup owns from the base tree, and no manifest.
        """
        for entry in changes.upserts:
            check_blob_id(entry.blob_id)
        unchanged = not changes.upserts and not changes.deletions and base is not None
        tree = {
            path: object_id
            for path, (_, object_id) in self.mirror.ls_tree(
                base, repo_files.FILES if unchanged else ()
            ).items()
        }
        owned = {path: data for path, data in repo_files.FILES.items() if tree.get(path) != git_blob_id(data)}
        if unchanged and not owned:
            return [], []
        manifest = self._manifest_at(base, self._base_name())
        planned = plan_changes(changes, manifest, tree)
        if not planned and not owned and base is not None:
            return [], []
        tally.imported += sum(change.entry is not None for change in planned)
        parts = list(batches(planned, batch_size)) or [[]]  # an empty remote gets a root commit
        with FastImport(self.mirror.git, "refs/gitsync/build") as stream:
            manifests = self._write_manifests(stream, parts, manifest)
            marks = []
            for number, part in enumerate(parts, start=1):
                message = commit_message(part, info, number, len(parts))
                marks.append(stream.begin_commit(ident=self.ident, when=when, message=message, parent=base))
                base = None  # later parts follow the previous one
                if number == 1:
                    for path, data in owned.items():
                        stream.put(path, data)
                self._write_part(stream, part)
                stream.put_object(MANIFEST_PATH, f":{manifests[number - 1]}")
            ids = stream.finish()
        commits = [ids[mark] for mark in marks]
        sizes = self.mirror.commit_sizes(commits)
        self.log.info(
            "built %d commit(s) for %d change(s), %.1f MiB of new objects: %s",
            len(commits), len(planned), sum(sizes) / 2**20, " ".join(commits),
        )  # fmt: skip
        return commits, sizes

    @staticmethod
    def _write_manifests(stream: FastImport, parts: list[list[Change]], manifest: ManifestFile) -> list[int]:
        """Each part's manifest as a blob, one after the other, so fast-import stores each but the
        first as a small delta against the previous one; returns their marks."""
        state = _ManifestLines(manifest)
        marks = []
        for part in parts:
            for change in part:
                state.apply(change)
            marks.append(stream.blob(state.dump()))
        return marks

    @staticmethod
    def _write_part(stream: FastImport, part: Iterable[Change]) -> None:
        """The part's changes; every blob they point at is in the mirror."""
        for change in part:
            if change.entry is None:
                stream.delete(change.path)
            else:
                stream.put_object(change.path, change.entry.blob_id)

    def _push_working_branch(
        self, commits: list[str], sizes: list[int], base: str | None, budget: int, tally: _Tally
    ) -> str:
        """Push ``commits`` in order, as few at a time as ``budget`` allows; returns the new head.

        Every pushed commit is recorded in ``tally`` at once, so a later rejection loses no count.
        """
        ref = f"refs/heads/{self.working_branch}"
        old = self.mirror.tracking(self.working_branch)
        if not commits:
            if old is None and base is not None:  # first run on an existing main: create the branch
                tally.sent += self.mirror.push(base, ref, None, bulk=tally.bulk)
                return base
            return base or ""
        points = push_points(sizes, budget)
        self.log.info(
            "pushing %d commit(s) (%.1f MiB) in %d push(es) of at most %.0f MiB",
            len(commits), sum(sizes) / 2**20, len(points), budget / 2**20,
        )  # fmt: skip
        done = 0
        for point in points:
            tally.sent += self.mirror.push(commits[point], ref, old, bulk=tally.bulk)
            tally.pushed += commits[done : point + 1]
            old, done = commits[point], point + 1
        return old

    def _merge_into_main(self, head: str, info: CommitInfo, when: str) -> tuple[str, RefUpdate | None]:
        """Where main must be to hold ``head``: ``head`` itself when it can fast-forward, else a commit
        on main in which every path the backup owns takes the backup's content; returns main and
        the ref update to push, if any."""
        ref = f"refs/heads/{self.branch}"
        main = self.mirror.tracking(self.branch)
        if main is None or self.mirror.is_ancestor(main, head):
            return head, (None if main == head else (head, ref, main))
        commit = self._reconcile_main(main, head, info, when)
        if commit is None:
            return main, None
        self.log.info("%s has commits of its own: %s brings it to the backup %s", self.branch, commit, head)
        return commit, (commit, ref, main)

    def _reconcile_main(self, main: str, head: str, info: CommitInfo, when: str) -> str | None:
        """A commit on ``main`` (merging ``head`` unless main already contains it) in which every path
        the backup owns equals ``head`` and every path it owned before and no longer does is gone;
        None when main already agrees. The backup owns its manifest's paths, the manifest and the
        root files of :mod:`repo_files`; every other file on main belongs to people and is kept.
        Main's own manifest is never read: people may have edited it."""
        main_tree, head_tree = self.mirror.ls_tree(main), self.mirror.ls_tree(head)
        owned = set(self._manifest_at(head, self.working_branch)) | {MANIFEST_PATH, *repo_files.FILES}
        base = self.mirror.merge_base(main, head)
        earlier = set(self._manifest_at(base, f"the last backup merged into {self.branch}")) - owned
        stale = sorted(p for p in earlier if p in main_tree)
        differ = sorted(p for p in owned if p in head_tree and main_tree.get(p) != head_tree[p])
        merged = self.mirror.is_ancestor(head, main)
        if merged and not stale and not differ:
            return None
        title = "Restore backed-up paths" if merged else "Merge backup"
        message = (
            f"{title} {info.logical_date[:10]} into {self.branch}\n\n"
            f"Backed-up paths take the content of {self.working_branch} ({head}); "
            f"{len(differ)} rewritten, {len(stale)} deleted.\n\nRun id: {info.run_id}\n"
        )
        self.mirror.fetch_blobs({head_tree[p][1] for p in differ}, f"{head}^{{tree}}")
        with FastImport(self.mirror.git, "refs/gitsync/merge") as stream:
            mark = stream.begin_commit(
                ident=self.ident, when=when, message=message, parent=main, merge=None if merged else head
            )
            for path in stale:
                stream.delete(path)
            for path in differ:
                mode, object_id = head_tree[path]
                stream.put_object(path, object_id, mode)
            return stream.finish()[mark]

    def _tag(
        self, tag: str | None, head: str, message: str, when: str
    ) -> tuple[str | None, bool, RefUpdate | None]:
        """Tag ``head`` as ``tag``, or ``tag.2``, ``.3``... when the name is taken by another commit;
        returns the name, whether it is new, and the ref update to push."""
        if tag is None:
            return None, False, None
        name, number = tag, 1
        while (target := self.mirror.resolve(f"refs/tags/{name}")) not in (None, head):
            number += 1
            name = f"{tag}.{number}"
        if target == head:
            self.log.info("tag %s already points at %s", name, head)
            return name, False, None
        if name != tag:
            self.log.warning(
                "tag %s exists at another commit and is never moved: tagging %s as %s", tag, head, name
            )
        text = (message or f"Backup {tag}").rstrip("\n") + "\n"
        tag_id = self.mirror.make_tag(name, head, self.ident, when, text)
        return name, True, (tag_id, f"refs/tags/{name}", None)
