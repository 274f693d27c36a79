"""The bare mirror of one remote, cached on the worker: fetch, read trees and blobs, push, size."""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import re
import socket
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

from airflow_gitsync.git.auth import GitAuth
from airflow_gitsync.git.runner import GitRunner, redact_url

REMOTE = "origin"
_WRITTEN = re.compile(r"Writing objects: 100% \([0-9/]+\), ([0-9.]+) (bytes|KiB|MiB|GiB)")
_UNITS = {"bytes": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}
_PACKS_BEFORE_FULL_REPACK = 50
ZERO_ID = "0" * 40
# Pack objects as they are stored: the staged packs hold no deltas, and a delta search over a first
# sync's 70,000 blobs took a push 30 s of CPU (git's default window of 10) to save next to nothing.
BULK = {"pack.window": "0"}
# No pack bitmap: with one, git's push reuses the stored objects of what it sends instead of finding
# deltas against what the remote has, and a daily push of small edits sent every edited notebook whole
# (benchmarks/growth.py at 7,000: 1.75 MiB a day with a bitmap, 0.14 MiB without). A full repack of a
# bare repository writes one by default; a mirror of an older version may have one: pushes ignore it.
NO_BITMAPS = {"repack.writeBitmaps": "false", "pack.useBitmaps": "false"}
PARTIAL_FILTER = "blob:none"  # served to every Azure DevOps organisation since November 2023
LOCK_TIMEOUT = 1800.0  # seconds a task waits for another's hold on the mirror
_LOCK_POLL = 0.2  # flock has no timeout: try again this often
_LOCK_LOG_EVERY = 60.0


RefUpdate = tuple[str, str, str | None]
"""``(new, ref, old)``: one ref a push moves from ``old`` (None: a new ref) to ``new``."""


def mirror_dir(cache_dir: Path, remote_url: str) -> Path:
    """``<cache_dir>/<repo name>-<hash of the url>.git``: one mirror per remote."""
    name = Path(urlsplit(remote_url).path.rstrip("/")).name.removesuffix(".git") or "repo"
    digest = hashlib.sha256(remote_url.encode()).hexdigest()[:12]
    return cache_dir / f"{re.sub(r'[^A-Za-z0-9._-]', '_', name)}-{digest}.git"


def _pushed_bytes(progress: str) -> int:
    """Pack bytes sent, from push's ``Writing objects`` progress line (0 when nothing was sent)."""
    matches = _WRITTEN.findall(progress)
    return int(float(matches[-1][0]) * _UNITS[matches[-1][1]]) if matches else 0


def ls_remote(remote_url: str, auth: GitAuth, logger: logging.Logger) -> str:
    """The remote's branches as ``git ls-remote --heads`` lists them; needs no mirror."""
    return (
        GitRunner(None, remote_url, auth, logger).remote("ls-remote", "--heads", remote_url).stdout.decode()
    )


def remote_refs(remote_url: str, auth: GitAuth, logger: logging.Logger, *patterns: str) -> dict[str, str]:
    """``{ref: object id}`` of the remote's refs matching ``patterns`` (``refs/tags/archive/*``),
    annotated tags also peeled (``<ref>^{}``): one round trip, no mirror."""
    runner = GitRunner(None, remote_url, auth, logger)
    listing = runner.remote("ls-remote", remote_url, *patterns).stdout.decode()
    refs = {}
    for line in listing.splitlines():
        object_id, _, ref = line.partition("\t")
        refs[ref] = object_id
    return refs


class MirrorLockTimeout(TimeoutError):
    """Another task held the mirror for longer than the lock timeout; the message names it."""


class Mirror:
    """A bare repository whose ``refs/remotes/origin/*`` and ``refs/tags/*`` follow the remote."""

    def __init__(
        self,
        path: Path,
        remote_url: str,
        auth: GitAuth,
        logger: logging.Logger,
        lock_timeout: float = LOCK_TIMEOUT,
    ) -> None:
        if urlsplit(remote_url).password is not None:
            raise ValueError(
                f"the remote URL {redact_url(remote_url)} holds a password: put it in the connection's "
                "password field instead"
            )
        self.path = path
        self.remote_url = remote_url
        self.log = logger
        self.git = GitRunner(path, remote_url, auth, logger)
        self.lock_timeout = lock_timeout
        self._lock_depth = 0
        self._partial: bool | None = None

    @contextmanager
    def lock(self, holder: str = "a task") -> Iterator[None]:
        """Hold the mirror exclusively (``flock`` on ``<mirror>.lock`` beside it) against other
        processes and other :class:`Mirror` objects of the same path: a backup's sync..push and a
        restore's sync..reads never interleave. Re-entrant within this object. When another holds it,
        waits, logging who (``holder``, pid and host, as the holder wrote them) every minute, and
        raises :class:`MirrorLockTimeout` naming them after ``lock_timeout`` seconds."""
        if self._lock_depth:
            self._lock_depth += 1
            try:
                yield
            finally:
                self._lock_depth -= 1
            return
        path = self.path.with_name(self.path.name + ".lock")
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a+", encoding="utf-8") as handle:
            started = time.monotonic()
            deadline, next_log = started + self.lock_timeout, started
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    handle.seek(0)
                    held_by = handle.read() or "another task"
                now = time.monotonic()
                if now >= deadline:
                    raise MirrorLockTimeout(
                        f"the mirror {self.path} is still held by {held_by} after {self.lock_timeout:g} s "
                        "of waiting: if that task hangs, stop it ([gitsync] lock_timeout_minutes)"
                    )
                if now >= next_log:
                    self.log.info(
                        "waiting for the mirror %s, held by %s (giving up in %.0f s)",
                        self.path,
                        held_by,
                        deadline - now,
                    )
                    next_log = now + _LOCK_LOG_EVERY
                time.sleep(min(_LOCK_POLL, deadline - now))
            handle.truncate(0)
            handle.write(f"{holder} (pid {os.getpid()} on {socket.gethostname()})")
            handle.flush()
            self._lock_depth = 1
            try:
                yield
            finally:
                self._lock_depth = 0
                handle.truncate(0)
                fcntl.flock(handle, fcntl.LOCK_UN)

    def sync(self) -> None:
        """Create the mirror if missing (gc.auto=0), then fetch branches and tags; under :meth:`lock`."""
        with self.lock("a sync"):
            self._sync()

    def _sync(self) -> None:
        if not (self.path / "HEAD").exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.git.run("init", "--quiet", "--bare")
            # A new mirror is blobless: it fetches commits and trees, and only the blobs it reads
            # (:meth:`fetch_blobs`); the blobs a commit writes come from the run's packs.
            for key, value in (
                ("gc.auto", "0"),
                ("core.logAllRefUpdates", "false"),
                ("fetch.unpackLimit", "1"),
                ("core.repositoryformatversion", "1"),
                ("extensions.partialClone", REMOTE),
                (f"remote.{REMOTE}.url", self.remote_url),
                (f"remote.{REMOTE}.promisor", "true"),
                (f"remote.{REMOTE}.partialclonefilter", PARTIAL_FILTER),
            ):
                self.git.run("config", key, value)
        self._partial = None
        self.git.remote(
            "fetch", "--quiet", "--no-tags", *([f"--filter={PARTIAL_FILTER}"] if self.partial else []),
            REMOTE, f"+refs/heads/*:refs/remotes/{REMOTE}/*", "refs/tags/*:refs/tags/*",
        )  # fmt: skip

    @property
    def partial(self) -> bool:
        """Whether the mirror holds only the blobs it wrote or read (one cloned without them); a mirror
        made before partial mirrors existed keeps every blob, and its fetches stay whole."""
        if self._partial is None:
            promisor = self.git.run("config", "--get", f"remote.{REMOTE}.promisor", check=False)
            self._partial = promisor.stdout.strip() == b"true"
        return self._partial

    def fetch_blobs(self, object_ids: Iterable[str], within: str, *more: str) -> int:
        """Fetch, in one request, those of ``object_ids`` (blobs of the tree ``within``, e.g.
        ``<commit>^{tree}``, or of any of ``more`` trees) that a partial mirror lacks; returns how many
        it fetched.

        Reading a missing blob would fetch it too, one request per blob and without credentials: every
        reader of blobs calls this first. The missing ones are found from the tree without fetching
        (``rev-list --missing=print``).
        """
        if not self.partial:
            return 0
        listing = self.git.run("rev-list", "--objects", "--missing=print", within, *more).stdout.decode()
        missing = {line[1:] for line in listing.splitlines() if line.startswith("?")}
        missing &= set(object_ids)
        if missing:
            self.git.remote(
                "fetch", "--quiet", "--no-tags", "--no-write-fetch-head", f"--filter={PARTIAL_FILTER}",
                "--stdin", REMOTE, input="".join(f"{oid}\n" for oid in sorted(missing)).encode(),
            )  # fmt: skip
            self.log.info("fetched %d blob(s) the partial mirror lacked", len(missing))
        return len(missing)

    def index_pack(self, data: bytes) -> set[str]:
        """Write the pack ``data`` into the mirror, every object checked by ``git index-pack``; returns
        the ids of its objects. Raises :class:`GitError` for bytes that are not a sound pack."""
        name = self.git.text("index-pack", "--stdin", input=data).split()[-1]
        index = self.path / "objects" / "pack" / f"pack-{name}.idx"
        listing = self.git.run("show-index", input=index.read_bytes()).stdout.decode()
        return {line.split()[1] for line in listing.splitlines()}

    def resolve(self, ref: str) -> str | None:
        """The commit ``ref`` points at (peeling tags), or None."""
        result = self.git.run("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False)
        return result.stdout.decode().strip() or None

    def newest_tag(self, prefix: str) -> str | None:
        """The name of the newest tag starting with ``prefix``, by its tagger date (a backup tag's is
        the capture time), or None."""
        names = self.git.text(
            "for-each-ref", "--sort=-creatordate", "--format=%(refname:strip=2)", "refs/tags"
        ).splitlines()
        return next((name for name in names if name.startswith(prefix)), None)

    def tag_message(self, name: str) -> str:
        """The message of the annotated tag ``name`` (empty: no such tag, or a lightweight one)."""
        return self.git.text("for-each-ref", "--format=%(contents)", f"refs/tags/{name}")

    def tracking(self, branch: str) -> str | None:
        return self.resolve(f"refs/remotes/{REMOTE}/{branch}")

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        return self.git.run("merge-base", "--is-ancestor", ancestor, descendant, check=False).returncode == 0

    def merge_base(self, a: str, b: str) -> str | None:
        return self.git.run("merge-base", a, b, check=False).stdout.decode().strip() or None

    def ls_tree(self, commit: str | None, paths: Iterable[str] = ()) -> dict[str, tuple[str, str]]:
        """``{path: (mode, object id)}`` for every file at ``commit`` (empty for None), or only for
        those of ``paths`` it has."""
        if commit is None:
            return {}
        entries = {}
        listing = self.git.run("ls-tree", "-r", "-z", "--full-tree", commit, "--", *paths).stdout
        for record in listing.split(b"\0"):
            if record:
                meta, _, path = record.partition(b"\t")
                mode, _, object_id = meta.decode().split(" ")
                entries[path.decode()] = (mode, object_id)
        return entries

    def read_file(self, commit: str | None, path: str) -> bytes | None:
        """The file ``path`` at ``commit`` (None: no such file or no commit), fetched first where a
        partial mirror lacks it."""
        found = self.ls_tree(commit, [path]).get(path)
        if found is None:
            return None
        folder = path.rpartition("/")[0]
        self.fetch_blobs([found[1]], f"{commit}:{folder}" if folder else f"{commit}^{{tree}}")
        return self.git.run("cat-file", "blob", found[1]).stdout

    @contextmanager
    def blob_reader(self) -> Iterator[Callable[[str], bytes]]:
        """A function reading blobs by id through one persistent ``git cat-file --batch`` (GitPython's
        object database), for reading thousands of blobs without a process each. Not thread-safe.
        GitPython is imported here: every task process parses the DAG, few read blobs."""
        import git

        repo = git.Repo(self.path, odbt=git.GitCmdObjectDB)
        try:
            yield lambda blob_id: repo.odb.stream(bytes.fromhex(blob_id)).read()
        finally:
            repo.close()

    def commit_sizes(self, commits: list[str]) -> list[int]:
        """Per commit, the on-disk bytes of it, its root tree and every tree and blob it changes.

        An upper bound of what pushing it on top of its parent sends: objects the remote already
        holds, or that two commits share, are counted anyway.
        """
        if not commits:
            return []
        diff = self.git.run(
            "diff-tree", "--stdin", "-r", "-t", "--root", "--no-abbrev",
            input="".join(f"{commit}\n" for commit in commits).encode(),
        ).stdout  # fmt: skip
        objects: dict[str, list[str]] = {commit: [commit, f"{commit}^{{tree}}"] for commit in commits}
        current: list[str] = []
        for line in diff.decode(errors="replace").splitlines():
            if not line.startswith(":"):
                current = objects[line.strip()]
            elif (new := line.split("\t", 1)[0].split()[3]) != ZERO_ID:
                current.append(new)
        names = [name for names in objects.values() for name in names]
        query = "".join(f"{name}\n" for name in names).encode()
        sizes = self.git.run("cat-file", "--batch-check=%(objectsize:disk)", input=query).stdout.split()
        disk = dict(zip(names, map(int, sizes), strict=True))
        return [sum(disk[name] for name in objects[commit]) for commit in commits]

    def push(self, new: str, ref: str, old: str | None, *more: RefUpdate, bulk: bool = False) -> int:
        """Push ``new`` to the remote's ``ref`` (no force), and each of ``more`` in the same push (each
        ref is accepted or rejected on its own); log it, return the pack bytes sent. ``bulk`` (a first
        sync's tens of thousands of new blobs): send objects as they are stored, without a delta search
        (:data:`BULK`)."""
        updates = [(new, ref, old), *more]
        result = self.git.remote(
            "push", "--porcelain", "--progress", REMOTE, *(f"{n}:{r}" for n, r, _ in updates),
            config=(BULK if bulk else {}) | NO_BITMAPS,
        )  # fmt: skip
        sent = _pushed_bytes(result.stderr.decode(errors="replace"))
        for new, ref, old in updates:
            self.log.info("git push: %s %s %s -> %s", redact_url(self.remote_url), ref, old or "(new)", new)
            self.git.run("update-ref", ref.replace("refs/heads/", f"refs/remotes/{REMOTE}/", 1), new)
        self.log.info("git push: %d bytes sent", sent)
        return sent

    def pack_objects(self, object_ids: Iterable[str]) -> bytes:
        """A pack of ``object_ids`` (fetch a partial mirror's missing ones first: :meth:`fetch_blobs`)."""
        query = "".join(f"{oid}\n" for oid in sorted(set(object_ids))).encode()
        return self.git.run("pack-objects", "--stdout", "-q", input=query).stdout

    def commit_time(self, commit: str) -> int:
        """The committer time of ``commit`` (epoch seconds)."""
        return int(self.git.text("log", "-1", "--format=%ct", commit))

    def make_tag(self, name: str, commit: str, tagger: str, when: str, message: str) -> str:
        """An annotated tag object for ``commit`` (no ref yet); returns its id."""
        body = f"object {commit}\ntype commit\ntag {name}\ntagger {tagger} {when}\n\n{message}"
        return self.git.text("mktag", input=body.encode())

    def size_bytes(self) -> int:
        """Bytes of the mirror's packed and loose objects (``git count-objects -v``)."""
        stats = self._count_objects()
        return (stats["size-pack"] + stats["size"]) * 1024

    def repack(self, full: bool = False) -> None:
        """Pack loose objects; consolidate all packs into one, as stored (:data:`BULK`), when ``full``
        (after a large import: a pack per task) or once imports and fetches have left many packs."""
        stats = self._count_objects()
        if full or stats["packs"] >= _PACKS_BEFORE_FULL_REPACK:
            self.git.run("repack", "-a", "-d", "-q", config=BULK | NO_BITMAPS)
        elif stats["count"]:
            self.git.run("repack", "-d", "-q", config=NO_BITMAPS)

    def _count_objects(self) -> dict[str, int]:
        stats = {}
        for line in self.git.text("count-objects", "-v").splitlines():
            key, _, value = line.partition(": ")
            if value.isdigit():
                stats[key] = int(value)
        return stats
