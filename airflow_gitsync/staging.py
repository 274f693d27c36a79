"""Content-addressed staging store shared by the scan, export and commit tasks.

It holds two kinds of objects, each named by its content so that a write is idempotent (a retry
writes the same bytes under the same name) and a read is verified (the bytes must hash back to
their name):

- ``packs/<sha1>.pack``: what one scan or export task exported, as one git pack
  (:mod:`airflow_gitsync.git.packs`), named by its trailing checksum;
- ``blobs/<blob id>``: the small objects tasks hand each other (a year's manifest slice, an export
  task's change lists), named by git blob id;

``runs/<key>.json``, the run records of :mod:`airflow_gitsync.retention`, and
``archives/<commit>.json``, what a closed year's repository held at that commit
(:mod:`airflow_gitsync.repositories`; never swept). The folders are flat:
a sweep lists each in one request. The store works on any ``pathlib``-like
root: Airflow's ``ObjectStoragePath`` (``file://``, ``abfs://``, ...) in tasks, a plain
``pathlib.Path`` in tests.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Container, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import PosixPath, WindowsPath
from typing import Any, Protocol

from airflow_gitsync.blob import check_blob_id, git_blob_id
from airflow_gitsync.errors import PermanentError
from airflow_gitsync.git.packs import PackError, check_pack_name, pack_name

BLOBS = "blobs"
PACKS = "packs"
RUNS = "runs"
ARCHIVES = "archives"
PACK_SUFFIX = ".pack"


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


class StagingCorruptError(PermanentError):
    """A staged object's bytes do not hash to its name (the object is then removed)."""


class StagingMissingError(PermanentError, KeyError):
    """An object was asked for that the store does not hold."""


def is_local(path: StoragePath) -> bool:
    """Whether ``path`` is a plain local path, for ``os`` calls. Not an ``ObjectStoragePath``, even a
    ``file://`` one: with universal-pathlib 0.2 (Airflow 3.1) that is a ``pathlib.Path`` too, whose
    ``os.fspath()`` is its URL."""
    return isinstance(path, PosixPath | WindowsPath)


@dataclass(frozen=True)
class Swept:
    """One :meth:`StagingStore.sweep`: objects (and bytes) removed, objects kept, and of those the
    ones kept because the store tells no time. Kept objects are counted, not sized."""

    removed: int
    removed_bytes: int
    kept: int
    unknown_age: int


class StagingStore:
    """Packs and blobs under ``root``: on a local path, or on an object store (anything else:
    Airflow's ``ObjectStoragePath``, whose requests are what a sync waits on)."""

    def __init__(self, root: StoragePath) -> None:
        self.root = root
        self._local = is_local(root)
        self._made: set[str] = set()  # folders this instance has created: one mkdir each

    def blob_path(self, blob_id: str) -> StoragePath:
        return self.root / BLOBS / check_blob_id(blob_id)

    def pack_path(self, name: str) -> StoragePath:
        return self.root / PACKS / (check_pack_name(name) + PACK_SUFFIX)

    def put(self, content: bytes) -> str:
        """Store ``content`` as a blob and return its blob id."""
        blob_id = git_blob_id(content)
        self._write(BLOBS, self.blob_path(blob_id), content, lambda data: git_blob_id(data) == blob_id)
        return blob_id

    def put_pack(self, data: bytes) -> str:
        """Store the git pack ``data`` (checked whole first) and return its name."""
        name = pack_name(data)
        self._write(PACKS, self.pack_path(name), data, lambda stored: stored == data)
        return name

    def _write(self, folder: str, path: Any, content: bytes, sound: Callable[[bytes], bool]) -> None:
        """Write ``content`` to ``path`` in ``folder``.

        On an object store the object is written whole in one request, always: it is committed whole
        or not at all, a rewrite makes it younger to the retention sweep, and checking first would
        cost more requests than the write. On a local path the same bytes are not written again, but
        their time is set to now, so a sweep on the same store (of another DAG) sees an object a run
        just staged as young (:mod:`airflow_gitsync.retention`); an object that is not those bytes
        (truncated by a killed writer, corrupted) is written again: one of another size at once, one
        of the same size once ``sound`` says so.
        """
        if not self._local:
            try:
                path.fs.pipe_file(path.path, content)
            except FileNotFoundError:  # a file system with real folders (file://): the folder first
                self._mkdir(folder)
                path.fs.pipe_file(path.path, content)
            return
        try:
            stored = path.stat().st_size == len(content) and sound(path.read_bytes())
        except FileNotFoundError:
            stored = False
        if stored:
            os.utime(path)
        else:
            self._mkdir(folder)
            path.write_bytes(content)

    def _mkdir(self, folder: str) -> None:
        if folder not in self._made:
            (self.root / folder).mkdir(parents=True, exist_ok=True)
            self._made.add(folder)

    def _read(self, path: Any, what: str, hint: str) -> bytes:
        try:
            # On an object store one request, where reading through a file object takes two.
            return path.read_bytes() if self._local else path.fs.cat_file(path.path)
        except FileNotFoundError:
            raise StagingMissingError(
                f"staging store {self.root} has no {what}: never staged there, or removed by staging "
                "retention once no recent or unfinished run needed it ([gitsync] "
                f"staging_retention_days); {hint}"
            ) from None

    def _corrupt(self, path: Any, what: str, detail: str, hint: str) -> StagingCorruptError:
        path.unlink(missing_ok=True)
        return StagingCorruptError(
            f"staging store {self.root}: {what} is corrupt ({detail}) and was removed; {hint}"
        )

    def get(self, blob_id: str) -> bytes:
        """The bytes stored under ``blob_id``, verified against it; a corrupt object is removed."""
        path = self.blob_path(blob_id)
        hint = (
            "run the task that staged it again (an export task's change list is staged by plan, a "
            "scan's manifest slice by prepare) or trigger a new run"
        )
        content = self._read(path, f"blob {blob_id}", hint)
        if (actual := git_blob_id(content)) != blob_id:
            raise self._corrupt(path, f"blob {blob_id}", f"its {len(content)} bytes hash to {actual}", hint)
        return content

    def get_pack(self, name: str, hint: str) -> bytes:
        """The pack stored as ``name``, its checksum verified; a corrupt pack is removed. ``hint`` says
        which task to run again to stage it afresh."""
        path = self.pack_path(name)
        data = self._read(path, f"pack {name}", hint)
        try:
            actual = pack_name(data)
        except PackError as exc:
            raise self._corrupt(path, f"pack {name}", f"{len(data)} bytes: {exc}", hint) from None
        if actual != name:
            raise self._corrupt(path, f"pack {name}", f"its checksum is {actual}", hint)
        return data

    def put_record(self, key: str, data: bytes) -> None:
        """Write (or replace) the run record ``key``."""
        self._mkdir(RUNS)
        (self.root / RUNS / f"{key}.json").write_bytes(data)

    def records(self) -> Iterator[tuple[str, bytes]]:
        """Every run record: its key and bytes."""
        folder = self.root / RUNS
        if folder.exists():
            for path in folder.iterdir():
                yield _name(path).removesuffix(".json"), path.read_bytes()

    def put_archive(self, commit: str, data: bytes) -> None:
        """Write (or replace) the record of a closed repository at ``commit``."""
        self._mkdir(ARCHIVES)
        (self.root / ARCHIVES / f"{check_blob_id(commit)}.json").write_bytes(data)

    def archive(self, commit: str) -> bytes | None:
        """The record of a closed repository at ``commit``, or None."""
        try:
            return self._read(self.root / ARCHIVES / f"{check_blob_id(commit)}.json", "", "")
        except StagingMissingError:
            return None

    def has_blob(self, blob_id: str) -> bool:
        return self.blob_path(blob_id).exists()

    def remove_record(self, key: str) -> None:
        (self.root / RUNS / f"{key}.json").unlink(missing_ok=True)

    def sweep(self, blobs: Container[str], packs: Container[str], older_than: float) -> Swept:
        """Remove every blob and pack not in ``blobs`` / ``packs`` written before ``older_than``
        (epoch seconds); one listing per folder. An object whose time the store does not tell is
        kept. Blobs of versions before packs (``blobs/<id[:2]>/<id[2:]>``) are swept as they age."""
        removed = removed_bytes = kept = unknown = 0

        def sweep_folder(folder: StoragePath, referenced: Callable[[str], bool]) -> list[str]:
            nonlocal removed, removed_bytes, kept, unknown
            count, others, folders = _listing(folder, referenced)
            kept += count
            for name, written, size in others:
                if written is None or written > older_than:
                    kept, unknown = kept + 1, unknown + (written is None)
                else:
                    (folder / name).unlink(missing_ok=True)
                    removed, removed_bytes = removed + 1, removed_bytes + size
            return folders

        sweep_folder(self.root / PACKS, lambda name: name.removesuffix(PACK_SUFFIX) in packs)
        for prefix in sweep_folder(self.root / BLOBS, lambda name: name in blobs):
            sweep_folder(self.root / BLOBS / prefix, lambda name, p=prefix: p + name in blobs)
        return Swept(removed, removed_bytes, kept, unknown)


def modified_time(info: Mapping) -> float | None:
    """When a staged object was written (epoch seconds), from an object store's info (``mtime``,
    ``last_modified``, ``LastModified``); None when it does not say. Read from the info itself:
    Airflow's ``stat_result`` reads ``mtime`` and ``LastModified`` only, and gives 0 for
    ``abfs://``'s ``last_modified``."""
    for key in ("mtime", "last_modified", "LastModified"):
        value = info.get(key)
        if isinstance(value, datetime):
            return value.timestamp()
        if isinstance(value, int | float) and value > 0:
            return float(value)
    return None


def _listing(
    folder: StoragePath, referenced: Callable[[str], bool]
) -> tuple[int, list[tuple[str, float | None, int]], list[str]]:
    """How many objects in ``folder`` are ``referenced``; the name, time written (epoch seconds, None
    if unknown) and size of each other one; the names of its subfolders. From one listing of the
    folder (``os.scandir``, an object store's ``ls``) rather than a call per object; a referenced
    object is not stat'ed: in a store of a week's runs nearly all are. A missing folder is empty."""
    count, others, folders = 0, [], []
    try:
        if is_local(folder):
            with os.scandir(folder) as entries:
                listed = [
                    (e.name, e.is_dir(), None if e.is_dir() or referenced(e.name) else e.stat())
                    for e in entries
                ]
            infos = [(n, d, st and (st.st_mtime or None), st and st.st_size) for n, d, st in listed]
        else:
            infos = [
                (_name(i["name"]), i.get("type") == "directory", modified_time(i), int(i.get("size") or 0))
                for i in folder.fs.ls(folder.path, detail=True)  # type: ignore[attr-defined]
            ]
    except FileNotFoundError:
        return 0, [], []
    for name, is_folder, written, size in infos:
        if is_folder:
            folders.append(name)
        elif referenced(name):
            count += 1
        else:
            others.append((name, written, size))
    return count, others, folders


def _name(path: StoragePath | str) -> str:
    """The last component of ``path``, from its text (``name`` is not reliable on every object
    store's path class)."""
    return str(path).rstrip("/").rsplit("/", 1)[-1]
