"""Git packfiles: the unit a task stages (:class:`PackWriter`) and the commit reads into its mirror.

A scan or export task writes every notebook it exported into one pack (format version 2, each blob
zlib-compressed whole) and stages that pack as one object: a full sync of 70,000 notebooks is then a
few hundred requests to the staging store, not 140,000. The pack names itself by its trailing SHA-1,
so staging it again is idempotent and a read can check it before git does; ``git index-pack`` then
verifies every object on its way into the commit task's mirror, which needs no Python in between.
Pure Python and zlib (which releases the GIL), no git repository needed on the exporting side.
"""

from __future__ import annotations

import hashlib
import os
import re
import struct
import tempfile
import threading
import zlib
from pathlib import Path

from airflow_gitsync.blob import git_blob_id

_BLOB = 3  # the pack object type of a blob
_PACK_NAME = re.compile(r"[0-9a-f]{40}")
TRAILER = 20  # bytes of the SHA-1 that ends a pack


class PackError(ValueError):
    """Bytes that are not a whole pack, or a name that is not a pack's."""


def check_pack_name(name: str) -> str:
    """Return ``name`` if it is a pack's name (40 lower-case hex digits), else raise :class:`PackError`."""
    if not isinstance(name, str) or not _PACK_NAME.fullmatch(name):
        raise PackError(f"not a pack name: {name!r}")
    return name


def pack_name(data: bytes) -> str:
    """The name of the pack ``data``: its trailing SHA-1, once the bytes before it hash to it."""
    if len(data) < 12 + TRAILER or data[:4] != b"PACK":
        raise PackError(f"not a git pack ({len(data)} bytes)")
    trailer = data[-TRAILER:].hex()
    if hashlib.sha1(memoryview(data)[:-TRAILER], usedforsecurity=False).hexdigest() != trailer:
        raise PackError("the pack's bytes do not hash to its trailer: truncated or corrupt")
    return trailer


def _object_header(size: int) -> bytes:
    """A pack entry's type and size: 3 bits of type and 4 of size, then 7 bits of size a byte."""
    out = bytearray()
    byte = (_BLOB << 4) | (size & 0x0F)
    size >>= 4
    while size:
        out.append(byte | 0x80)
        byte = size & 0x7F
        size >>= 7
    out.append(byte)
    return bytes(out)


class PackWriter:
    """Blobs put from any thread, written once each into a pack on local disk; :meth:`finish` seals it.

    ``put`` has the staging store's signature (content in, blob id out), so the export code does not
    care which of the two it fills. Compression runs outside the lock.
    """

    def __init__(self, directory: str | Path | None = None, level: int = 6) -> None:
        fd, path = tempfile.mkstemp(prefix="gitsync-pack-", suffix=".pack", dir=directory)
        self.path = Path(path)
        self._file = os.fdopen(fd, "w+b")
        self._file.write(b"PACK" + struct.pack(">II", 2, 0))
        self._level = level
        self._ids: set[str] = set()
        self._lock = threading.Lock()
        self.raw_bytes = 0

    def __len__(self) -> int:
        return len(self._ids)

    def __enter__(self) -> PackWriter:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def put(self, content: bytes) -> str:
        """Add ``content`` as a blob (once, however often it is put); returns its blob id."""
        blob_id = git_blob_id(content)
        with self._lock:
            if blob_id in self._ids:
                return blob_id
        entry = _object_header(len(content)) + zlib.compress(content, self._level)
        with self._lock:
            if blob_id not in self._ids:
                self._file.write(entry)
                self._ids.add(blob_id)
                self.raw_bytes += len(content)
        return blob_id

    def finish(self) -> bytes | None:
        """The sealed pack's bytes (None when nothing was put); the writer takes no more blobs."""
        with self._lock:
            if not self._ids:
                return None
            self._file.seek(8)
            self._file.write(struct.pack(">I", len(self._ids)))
            self._file.seek(0)
            digest = hashlib.sha1(usedforsecurity=False)
            while chunk := self._file.read(1 << 20):
                digest.update(chunk)
            self._file.write(digest.digest())
            self._file.seek(0)
            return self._file.read()

    def close(self) -> None:
        self._file.close()
        self.path.unlink(missing_ok=True)
