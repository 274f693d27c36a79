"""Publish built commits: push them to the working branch within the push budget, bring ``main`` to
them (a fast-forward, or a commit that keeps people's own files) and tag the run."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from airflow_gitsync.git import repo_files
from airflow_gitsync.git.build import manifest_at
from airflow_gitsync.git.commit_plan import CommitInfo
from airflow_gitsync.git.fast_import import FastImport
from airflow_gitsync.git.mirror import Mirror, RefUpdate
from airflow_gitsync.git.sizes import push_points
from airflow_gitsync.manifest import MANIFEST_PATH

LARGE_IMPORT_BLOBS = 10_000  # a run writing this many files is pushed as stored and repacked whole


@dataclass
class Tally:
    """What one backup commit has done so far, across its attempts."""

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


@dataclass(frozen=True)
class Publisher:
    """Moves ``working_branch``, ``branch`` and tags on the mirror's remote."""

    mirror: Mirror
    branch: str
    working_branch: str
    ident: str
    log: logging.Logger

    def push_working_branch(
        self, commits: list[str], sizes: list[int], base: str | None, budget: int, tally: Tally
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

    def merge_into_main(self, head: str, info: CommitInfo, when: str) -> tuple[str, RefUpdate | None]:
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
        owned = set(manifest_at(self.mirror, head, self.working_branch)) | {MANIFEST_PATH, *repo_files.FILES}
        base = self.mirror.merge_base(main, head)
        earlier = set(manifest_at(self.mirror, base, f"the last backup merged into {self.branch}")) - owned
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

    def tag(
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
