"""Git blob ids: the content address shared by the staging store, the manifest and the commits."""

from __future__ import annotations

import hashlib
import re

_BLOB_ID = re.compile(r"[0-9a-f]{40}")


def git_blob_id(content: bytes) -> str:
    """SHA-1 of ``blob <len>\\0<content>``, as ``git hash-object`` computes it."""
    digest = hashlib.sha1(b"blob %d\0" % len(content), usedforsecurity=False)
    digest.update(content)
    return digest.hexdigest()


def check_blob_id(blob_id: str) -> str:
    """Return ``blob_id`` if it is 40 lower-case hex digits, else raise ``ValueError`` naming it."""
    if not isinstance(blob_id, str) or not _BLOB_ID.fullmatch(blob_id):
        raise ValueError(f"not a git blob id: {blob_id!r}")
    return blob_id
