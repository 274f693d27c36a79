"""Content-addressed staging store shared by the export tasks and the commit task.

Objects are keyed by their git blob id, so a write is idempotent (a retry rewrites the same
bytes under the same key) and a read is verified (the bytes must hash back to their key). The
store works on any ``pathlib``-like root: Airflow's ``ObjectStoragePath`` (``file://``,
``abfs://``, ...) in tasks, a plain ``pathlib.Path`` in year tests.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

from airflow_gitsync.blob import check_blob_id, git_blob_id


class StoragePath(Protocol):
    @property
    def name(self) -> str: ...
    def __truediv__(self, other: str) -> StoragePath: ...
    def iterdir(self) -> Iterator[StoragePath]: ...
    def exists(self) -> bool: ...
    def stat(self): ...
    def mkdir(self, parents: bool = ..., exist_ok: bool = ...) -> None: ...
    def read_bytes(self) -> bytes: ...
    def write_bytes(self, data: bytes) -> int: ...
    def unlink(self, missing_ok: bool = ...) -> None: ...


class StagingCorruptError(Exception):
    """A staged object's bytes do not hash to its blob id (the object is then removed)."""


class StagingMissingError(KeyError):
    """A blob id was asked for that the store does not hold."""


READ_AHEAD = 16  # reads in flight on an object store


class StagingStore:
    """Blobs under ``<root>/blobs/<id[:2]>/<id[2:]>``: on a local path, or on an object store
    (anything else: Airflow's ``ObjectStoragePath``, whose requests are what a sync waits on)."""

    def __init__(self, root: StoragePath) -> None:
        self.root = root
        self._local = isinstance(root, Path)
        self._made: set[str] = set()  # prefix folders this instance has created: one mkdir each

    def _path(self, blob_id: str) -> StoragePath:
        check_blob_id(blob_id)
        return self.root / "blobs" / blob_id[:2] / blob_id[2:]

    def put(self, content: bytes) -> str:
        """Store ``content`` and return its blob id.

        On a local path, storing the same bytes again writes nothing, and an object that is not those
        bytes (truncated by a killed writer, corrupted) is written again: one of another size at once,
        one of the same size once its hash shows it. On an object store the object is written whole
        in one request, always: a blob is committed whole or not at all, and checking first would
        cost more requests than the write (on Azure a missing blob's check is two, a write through a
        file object two more).
        """
        blob_id = git_blob_id(content)
        path = self._path(blob_id)
        if not self._local:
            self._upload(path, blob_id, content)
            return blob_id
        try:
            stored = path.stat().st_size == len(content)
        except FileNotFoundError:
            stored = False
        if not (stored and git_blob_id(path.read_bytes()) == blob_id):
            self._mkdir(blob_id)
            path.write_bytes(content)
        return blob_id

    def _mkdir(self, blob_id: str) -> None:
        if blob_id[:2] not in self._made:
            (self.root / "blobs" / blob_id[:2]).mkdir(parents=True, exist_ok=True)
            self._made.add(blob_id[:2])

    def _upload(self, path: Any, blob_id: str, content: bytes) -> None:
        try:
            path.fs.pipe_file(path.path, content)
        except FileNotFoundError:  # a file system with real folders (file://): its prefix folder first
            self._mkdir(blob_id)
            path.fs.pipe_file(path.path, content)

    def get(self, blob_id: str) -> bytes:
        """The bytes stored under ``blob_id``, verified against it; a corrupt object is removed."""
        path = self._path(blob_id)
        try:
            # On an object store one request, where reading through a file object takes two.
            content = path.read_bytes() if self._local else path.fs.cat_file(path.path)
        except FileNotFoundError:
            raise StagingMissingError(
                f"staging store {self.root} has no blob {blob_id}: never staged there, or removed by "
                "staging retention once no recent or unfinished run needed it ([gitsync] "
                "staging_retention_days); run the task that staged it again (an export task's change "
                "list is staged by plan, a scan's manifest slice by prepare) or trigger a new run"
            ) from None
        if (actual := git_blob_id(content)) != blob_id:
            path.unlink(missing_ok=True)
            raise StagingCorruptError(
                f"staging store {self.root}: blob {blob_id} is corrupt (its {len(content)} bytes hash to "
                f"{actual}) and was removed: run the task that staged it again to store it afresh"
            )
        return content

    def get_many(self, blob_ids: Iterable[str]) -> Iterator[bytes]:
        """:meth:`get` of each of ``blob_ids``, in order; an error is raised when its blob's turn comes.

        On an object store (anything but a local path) up to :data:`READ_AHEAD` reads are in flight:
        each read there is a round trip of milliseconds, so one at a time a commit of 70,000 notebooks
        would wait minutes on them. A local file is read when its turn comes.
        """
        if self._local:
            yield from map(self.get, blob_ids)
            return
        blob_ids = iter(blob_ids)
        with ThreadPoolExecutor(READ_AHEAD, thread_name_prefix="staging") as pool:
            first = itertools.islice(blob_ids, READ_AHEAD)
            window: deque[Future] = deque(pool.submit(self.get, b) for b in first)
            try:
                while window:
                    content = window.popleft().result()
                    window.extend(pool.submit(self.get, b) for b in itertools.islice(blob_ids, 1))
                    yield content
            finally:
                for future in window:
                    future.cancel()

    def __contains__(self, blob_id: str) -> bool:
        return self._path(blob_id).exists()
