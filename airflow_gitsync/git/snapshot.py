"""The snapshot engine: turn a change set whose blobs are in the mirror into pushed commits.

Everything happens in a bare mirror, without a working tree. The blobs are already there (the run's
staged packs, indexed by :meth:`Mirror.index_pack`); :mod:`.build` writes the trees and commits
(manifest included) on them; :mod:`.publish` pushes them to the working branch, several per push
while their new objects fit in the push budget, merges them into ``main`` and tags. A large import
is repacked once everything is pushed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from airflow_gitsync.git.auth import GitAuth
from airflow_gitsync.git.build import build_commits, git_time
from airflow_gitsync.git.commit_plan import DEFAULT_BATCH_SIZE, ChangeSet, CommitInfo
from airflow_gitsync.git.mirror import LOCK_TIMEOUT, Mirror, mirror_dir
from airflow_gitsync.git.publish import Publisher, Tally
from airflow_gitsync.git.runner import GitError, GitPushRejected
from airflow_gitsync.git.sizes import DEFAULT_PUSH_BYTES, check_push_bytes, size_warning
from airflow_gitsync.manifest import MANIFEST_PATH

__all__ = ["ChangeSet", "CommitInfo", "SnapshotEngine", "SnapshotResult"]


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
        lock_timeout: float = LOCK_TIMEOUT,
    ) -> None:
        self.log = logger or logging.getLogger(__name__)
        self.remote_url = remote_url
        self.branch = branch
        self.working_branch = working_branch
        self.ident = f"{author[0]} <{author[1]}>"
        self.max_attempts = max_attempts
        path = mirror_dir(Path(cache_dir), remote_url)
        self.mirror = Mirror(path, remote_url, auth or GitAuth.none(), self.log, lock_timeout)
        self._publisher = Publisher(self.mirror, branch, working_branch, self.ident, self.log)

    def sync(self) -> None:
        """Clone the bare mirror if missing, else fetch; safe to call repeatedly."""
        self.mirror.sync()

    def _base(self) -> str | None:
        return self.mirror.tracking(self.working_branch) or self.mirror.tracking(self.branch)

    def _base_name(self) -> str:
        return self.working_branch if self.mirror.tracking(self.working_branch) else self.branch

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
        when = git_time(info.capture_time)
        self.sync()
        previous_head = self.mirror.tracking(self.working_branch)
        tally = Tally()
        publish = self._publisher
        for attempt in range(1, self.max_attempts + 1):
            try:
                base = self._base()
                with tally.timed("build"):
                    built = build_commits(
                        self.mirror, changes, info, base, self._base_name(),
                        ident=self.ident, when=when, batch_size=batch_size, log=self.log,
                    )  # fmt: skip
                tally.imported += built.imported
                commits = built.commits
                if dry_run:
                    return self._result(commits, commits[-1] if commits else base, previous_head, tally)
                with tally.timed("push"):
                    head = publish.push_working_branch(commits, built.sizes, base, push_bytes, tally)
                    merged_main, main_update = publish.merge_into_main(head, info, when)
                    tag_name, tag_created, tag_update = publish.tag(tag, head, tag_message, when)
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

    def tag_branch(self, tag: str, message: str, when: str) -> str | None:
        """Tag the main branch's tip as ``tag`` (or ``tag.2``... when the name is taken by another
        commit) and push the tag; returns its name (None: no main branch)."""
        with self.mirror.lock("a tag"):
            main = self.mirror.tracking(self.branch)
            if main is None:
                return None
            name, _, update = self._publisher.tag(tag, main, message, when)
            if update:
                self.mirror.push(*update)
            return name

    def _result(
        self,
        commits: list[str],
        head: str | None,
        previous_head: str | None,
        tally: Tally,
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
