"""The history browser's read model: find notebooks by name, one notebook's versions, read a version.

Pure (no Airflow import): it reads a :class:`~airflow_gitsync.git.mirror.Mirror` of the backup
repository, the api-server's own blobless one, fetched at most every ``fetch_every`` seconds. What
it derives is cached by what it was derived from, so a request costs a lookup, not a git walk:

- the **index** of the newest backup's manifest, by the manifest's blob id (one blob fetched and
  parsed once per backup);
- the **deletions**: ``git log --diff-filter=D --name-only`` on the working branch, which diffs
  trees only (a blobless mirror has them all) and is extended from the last tip on, never redone. The
  first reading walks every backup (12 s at 400 backups of 70,000 notebooks): it runs in a thread of
  its own, and a search that must not wait (``wait``) answers meanwhile with the newest backup's
  matches alone (:attr:`FindResult.deleted_pending`);
- the **timeline**: the working branch's commits, first parent, and the backup tags on them.

A notebook's history is ``git log --raw -- <path>`` on the working branch, a page at a time; its
sizes need the page's blobs, fetched in one request. Git never detects renames here: that would read
blobs, which a partial mirror would fetch one request each.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from airflow_gitsync.compat import UTC
from airflow_gitsync.git.mirror import REMOTE, ZERO_ID, Mirror
from airflow_gitsync.git.runner import GitError
from airflow_gitsync.manifest import MANIFEST_PATH
from airflow_gitsync.shards import parse_registry
from airflow_gitsync.ui.catalog import Backup, NotebookIndex, Timeline, deleted_paths, tag_day

MAX_FRAGMENT = 200  # characters of a search fragment
MAX_PAGE = 200  # results or versions a page may ask for
FIND_WAIT = 0.3  # seconds from its start a search waits for the deleted paths' reading (12 s at 70,000 x 400)
_TAG_FIELDS = "%(refname:strip=2)%00%(objectname)%00%(*objectname)%00%(creatordate:short)"
log = logging.getLogger(__name__)


class NotBackedUp(LookupError):
    """The repository has no such branch, or no backup on it yet."""


@dataclass(frozen=True)
class Found:
    """A search result: a notebook or file in the newest backup, or one deleted since (``deleted``:
    the deleting commit, ``last``: the newest backup that still held it)."""

    repo_path: str
    workspace_path: str | None
    deleted: str | None = None
    last: Backup | None = None


@dataclass(frozen=True)
class FindResult:
    items: list[Found]
    total: int
    offset: int
    deleted_pending: bool = False  # the deleted paths are still being read: none of them is in here


@dataclass(frozen=True)
class Version:
    """One change of a path on the working branch: ``status`` A(dded), M(odified) or D(eleted);
    ``blob`` None when deleted; ``size`` in bytes; ``backup`` the backup that brought it."""

    commit: str
    when: datetime
    author: str
    subject: str
    status: str
    blob: str | None
    size: int | None
    backup: Backup | None


@dataclass(frozen=True)
class HistoryPage:
    versions: list[Version]
    offset: int
    more: bool


class BackupRepository:
    """The view's reading of one backup repository's ``branch`` (the backup's working branch)."""

    def __init__(
        self,
        mirror: Mirror,
        branch: str,
        tag_format: str,
        fetch_every: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.mirror = mirror
        self.branch = branch
        self.tag_format = tag_format
        self.tag_prefix = tag_format.split("%", 1)[0]
        self.fetch_every = fetch_every
        self.clock = clock
        self.fetched_at: float | None = None
        self.fetch_error: str | None = None
        self._lock = threading.Lock()
        self._deletions_lock = threading.Lock()  # held while the deleted paths are read (seconds)
        self._reading: tuple[str, threading.Thread, float] | None = None  # tip, reader, its start
        self._timeline: tuple[tuple[str, str], Timeline] | None = None
        self._index: tuple[str, NotebookIndex] | None = None
        self._deleted: tuple[str, dict[str, str]] | None = None
        self._gone: tuple[tuple[str, str], list[tuple[str, str, str]]] | None = None
        self._registry: tuple[float | None, frozenset[str]] | None = None

    def refresh(self) -> str:
        """Fetch when the last fetch is older than ``fetch_every`` seconds; the branch's tip. A failed
        fetch of a mirror fetched before is kept in :attr:`fetch_error` and the last fetch is read."""
        with self._lock:
            now = self.clock()
            if self.fetched_at is None or now - self.fetched_at >= self.fetch_every:
                try:
                    self.mirror.sync()
                    self.fetch_error = None
                except GitError as exc:
                    if self.fetched_at is None:
                        raise
                    self.fetch_error = str(exc)
                    log.warning("the history browser reads the repository as last fetched: %s", exc)
                self.fetched_at = now
            tip = self.mirror.resolve(f"refs/remotes/{REMOTE}/{self.branch}")
        if tip is None:
            raise NotBackedUp(f"the backup repository has no branch {self.branch} yet")
        return tip

    def registry(self) -> frozenset[str]:
        """The shards the ``Repositories:`` line of the newest tag names (a repository per year, ADR
        0007; empty for one repository), read once per fetch."""
        self.refresh()
        with self._lock:
            if self._registry is None or self._registry[0] != self.fetched_at:
                newest = self.mirror.newest_tag("")
                named = parse_registry(self.mirror.tag_message(newest)) if newest else set()
                self._registry = (self.fetched_at, frozenset(named))
            return self._registry[1]

    def timeline(self, tip: str) -> Timeline:
        where = f"refs/tags/{self.tag_prefix}" if self.tag_prefix.endswith("/") else "refs/tags/"
        tags = self.mirror.git.run("for-each-ref", f"--format={_TAG_FIELDS}", where).stdout.decode(
            errors="replace"
        )
        key = (tip, tags)
        if self._timeline and self._timeline[0] == key:
            return self._timeline[1]
        tagged: dict[str, Backup] = {}
        for line in sorted(tags.splitlines()):
            name, target, peeled, created = line.split("\0")
            if name.startswith(self.tag_prefix):
                tagged.setdefault(
                    peeled or target, Backup(name, peeled or target, tag_day(name, self.tag_format, created))
                )
        commits = self.mirror.git.text("rev-list", "--first-parent", tip).split()
        timeline = Timeline(commits, tagged)
        self._timeline = (key, timeline)
        return timeline

    def index(self, tip: str) -> NotebookIndex:
        """The index of the manifest at ``tip``, built once per manifest blob."""
        found = self.mirror.ls_tree(tip, [MANIFEST_PATH]).get(MANIFEST_PATH)
        if found is None:
            raise NotBackedUp(f"{self.branch} has no {MANIFEST_PATH}: no backup on it yet")
        if self._index and self._index[0] == found[1]:
            return self._index[1]
        index = NotebookIndex(self.mirror.read_file(tip, MANIFEST_PATH) or b"")
        self._index = (found[1], index)
        return index

    def deletions(self, tip: str) -> dict[str, str]:
        """``{path: the newest commit deleting it}`` up to ``tip``, extended from the last tip read."""
        known = self._deleted
        if known and known[0] == tip:
            return known[1]
        since = known[0] if known and self.mirror.is_ancestor(known[0], tip) else None
        text = self.mirror.git.run(
            "log", "-z", "--first-parent", "--no-renames", "--diff-filter=D", "--name-only",
            "--format=%x01%H", tip if since is None else f"{since}..{tip}",
        ).stdout  # fmt: skip
        deleted = deleted_paths(text)
        if since is not None and known is not None:
            deleted = known[1] | {path: commit for path, commit in deleted.items()}
        self._deleted = (tip, deleted)
        return deleted

    def find(
        self, fragment: str, *, offset: int = 0, limit: int = 50, wait: float | None = None
    ) -> FindResult:
        """Paths of the newest backup holding ``fragment`` (any case), then those deleted since. The
        deleted paths are waited for at most ``wait`` seconds (None: until read); not read by then, the
        answer has the newest backup's matches alone, and they are read on in the background."""
        tip = self.refresh()
        with self._lock:
            index, timeline = self.index(tip), self.timeline(tip)
        gone = self._gone_within(tip, wait)
        if gone is None:
            gone, pending = [], True
        else:
            pending = False
        fragment = fragment[:MAX_FRAGMENT]
        live = index.matches(fragment) if fragment else []
        needle = fragment.casefold()
        dead = [g for g in gone if needle in g[0]] if fragment else []
        items: list[Found] = [
            Found(index.repo_paths[n], index.workspace_paths[n]) for n in live[offset : offset + limit]
        ]
        start = max(0, offset - len(live))
        for _, path, commit in dead[start : start + limit - len(items)]:
            parent = timeline.parent(commit)
            items.append(Found(path, None, commit, timeline.last_before(parent) if parent else None))
        return FindResult(items, len(live) + len(dead), offset, pending)

    def _gone_within(self, tip: str, wait: float | None) -> list[tuple[str, str, str]] | None:
        """:meth:`_gone_paths` at ``tip``, read in a thread of its own and waited for until ``wait``
        seconds after that reading started (searches while it goes on do not wait again); None: not
        read yet."""
        with self._lock:
            manifest = self._index[0] if self._index else ""
            if self._gone and self._gone[0] == (tip, manifest):
                return self._gone[1]
            if self._reading is None or self._reading[0] != tip or not self._reading[1].is_alive():
                thread = threading.Thread(
                    target=self._read_gone, args=(tip,), name="gitsync-deleted-paths", daemon=True
                )
                self._reading = (tip, thread, self.clock())
                thread.start()
            _, thread, started = self._reading
        thread.join(None if wait is None else max(0.0, started + wait - self.clock()))
        with self._lock:
            manifest = self._index[0] if self._index else ""
            return self._gone[1] if self._gone and self._gone[0] == (tip, manifest) else None

    def _read_gone(self, tip: str) -> None:
        try:
            with self._deletions_lock:
                self._gone_paths(tip)
        except Exception:  # the next search starts another reading
            log.exception("the history browser could not read the deleted paths at %s", tip)

    def _gone_paths(self, tip: str) -> list[tuple[str, str, str]]:
        """``(casefolded path, path, deleting commit)`` of deleted paths not in the newest backup."""
        manifest, index = self._index or ("", None)
        if self._gone and self._gone[0] == (tip, manifest):
            return self._gone[1]
        present = index.present if index else frozenset()
        gone = sorted((p.casefold(), p, c) for p, c in self.deletions(tip).items() if p not in present)
        self._gone = ((tip, manifest), gone)
        return gone

    def history(self, path: str, *, offset: int = 0, limit: int = 25) -> HistoryPage:
        """The changes of ``path`` on the working branch, newest first, with the size of each version."""
        tip = self.refresh()
        with self._lock:
            timeline = self.timeline(tip)
        text = self.mirror.git.run(
            "log", "-z", "--first-parent", "--no-renames", "--raw", "--no-abbrev", "--format=%x01%H %ct",
            f"--skip={offset}", f"--max-count={limit + 1}", tip, "--", f":(literal){path}",
        ).stdout  # fmt: skip
        changes: list[tuple[str, int, str, str | None]] = []
        for record in text.split(b"\x01")[1:]:
            header, _, raw = record.partition(b"\0")
            commit, seconds = header.decode().split()
            meta = raw.lstrip(b"\n").split(b"\0")[0].decode().split()
            status, blob = (meta[4][0], meta[3]) if len(meta) == 5 else ("?", ZERO_ID)
            changes.append((commit, int(seconds), status, None if blob == ZERO_ID else blob))
        shown, more = changes[:limit], len(changes) > limit
        sizes = self._sizes(path, [(c, b) for c, _, _, b in shown if b])
        about = self._about([c for c, _, _, _ in shown])
        versions = [
            Version(
                commit=commit,
                when=datetime.fromtimestamp(seconds, UTC),
                author=about.get(commit, ("", ""))[0],
                subject=about.get(commit, ("", ""))[1],
                status=status,
                blob=blob,
                size=sizes.get(blob) if blob else None,
                backup=timeline.brought_by(commit),
            )
            for commit, seconds, status, blob in shown
        ]
        return HistoryPage(versions, offset, more)

    def _sizes(self, path: str, versions: Sequence[tuple[str, str]]) -> dict[str, int]:
        """The size of each version's blob, the missing ones fetched first in one request."""
        if not versions:
            return {}
        folder = path.rpartition("/")[0]
        trees = [f"{commit}:{folder}" if folder else f"{commit}^{{tree}}" for commit, _ in versions]
        blobs = sorted({blob for _, blob in versions})
        self.mirror.fetch_blobs(blobs, *trees)
        listing = self.mirror.git.text(
            "cat-file",
            "--batch-check=%(objectname) %(objectsize)",
            input="".join(f"{b}\n" for b in blobs).encode(),
        )
        return {oid: int(size) for oid, size in (line.split() for line in listing.splitlines())}

    def _about(self, commits: Sequence[str]) -> dict[str, tuple[str, str]]:
        """``{commit: (author, subject)}``."""
        if not commits:
            return {}
        text = self.mirror.git.run(
            "log", "--no-walk=unsorted", "-z", "--format=%H%x00%an%x00%s", *commits
        ).stdout
        fields = text.decode(errors="replace").split("\0")
        return {fields[i]: (fields[i + 1], fields[i + 2]) for i in range(0, len(fields) - 2, 3)}

    def read(self, commit: str, path: str) -> bytes | None:
        """``path`` at ``commit`` (None: not there), its blob fetched if the mirror lacks it."""
        self.refresh()
        return self.mirror.read_file(commit, path)

    def commit_of(self, ref: str) -> str | None:
        """The commit of a full commit id or a backup tag, on this repository; None: neither."""
        if ref.startswith(self.tag_prefix):
            return self.mirror.resolve(f"refs/tags/{ref}")
        if len(ref) == 40 and all(c in "0123456789abcdef" for c in ref):
            return self.mirror.resolve(ref)
        return None
