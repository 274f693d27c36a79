"""Stream commits into a bare repository with ``git fast-import``: one pack, no working tree."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import BinaryIO

from airflow_gitsync.git.runner import GitError, GitRunner


def _quote(path: str) -> bytes:
    """``path`` as fast-import reads it: as it is, unless it starts with a double quote or holds a
    control character (a line feed would end the command and start another): then C-style quoted,
    each such byte as an octal escape. No path, however hostile, can reach the stream as a command."""
    data = path.encode()
    if not data.startswith(b'"') and not any(byte < 0x20 or byte == 0x7F for byte in data):
        return data
    quoted = bytearray(b'"')
    for byte in data:
        if byte in b'"\\':
            quoted += b"\\" + bytes([byte])
        elif byte < 0x20 or byte == 0x7F:
            quoted += b"\\%03o" % byte
        else:
            quoted.append(byte)
    return bytes(quoted + b'"')


class FastImport:
    """A running ``git fast-import`` writing commits on a scratch ref (``None``: blobs only); use as
    a context manager.

    :meth:`begin_commit` and :meth:`blob` return marks; :meth:`finish` ends the stream and maps
    marks to object ids.
    """

    def __init__(self, runner: GitRunner, ref: str | None) -> None:
        self.ref = ref
        self._runner = runner
        fd, marks = tempfile.mkstemp(prefix="gitsync-marks-")
        os.close(fd)
        self._marks = Path(marks)
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed in __exit__
        if ref:
            runner.run("update-ref", "-d", ref)
        # Packs, never loose objects: a small import (a blob stream's share, the commits on top of
        # them) would otherwise be unpacked, and its manifests stored whole instead of as deltas.
        self._proc = runner.popen(
            "-c", "fastimport.unpackLimit=0", "fast-import", "--quiet", "--done",
            f"--export-marks={self._marks}", stderr=self._stderr,
        )  # fmt: skip
        self._out: BinaryIO = self._proc.stdin
        self._next_mark = 0

    def __enter__(self) -> FastImport:
        return self

    def __exit__(self, *exc_info) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._stderr.close()
        self._marks.unlink(missing_ok=True)

    def _data(self, content: bytes) -> None:
        self._out.write(b"data %d\n" % len(content))
        self._out.write(content)
        self._out.write(b"\n")

    def begin_commit(
        self, *, ident: str, when: str, message: str, parent: str | None = None, merge: str | None = None
    ) -> int:
        """Start a commit on top of the previous one (or ``parent``); add files, then the next one."""
        if not self.ref:
            raise ValueError("a blob-only fast-import stream has no ref to commit on")
        self._next_mark += 1
        self._out.write(b"commit %s\nmark :%d\n" % (self.ref.encode(), self._next_mark))
        self._out.write(
            b"author %s %s\ncommitter %s %s\n"
            % (ident.encode(), when.encode(), ident.encode(), when.encode())
        )
        self._data(message.encode())
        if parent:
            self._out.write(b"from %s\n" % parent.encode())
        if merge:
            self._out.write(b"merge %s\n" % merge.encode())
        return self._next_mark

    def blob(self, content: bytes) -> int:
        """Store ``content`` (deltified against the previous blob when that pays); returns its mark."""
        self._next_mark += 1
        self._out.write(b"blob\nmark :%d\n" % self._next_mark)
        self._data(content)
        return self._next_mark

    def put(self, path: str, content: bytes) -> None:
        self._out.write(b"M 100644 inline %s\n" % _quote(path))
        self._data(content)

    def put_object(self, path: str, object_id: str, mode: str = "100644") -> None:
        """Point ``path`` at an existing object, by id or by ``:mark``."""
        self._out.write(b"M %s %s %s\n" % (mode.encode(), object_id.encode(), _quote(path)))

    def delete(self, path: str) -> None:
        self._out.write(b"D %s\n" % _quote(path))

    def finish(self) -> dict[int, str]:
        """End the stream, wait for the pack, and return ``{mark: commit id}``."""
        try:
            self._out.write(b"done\n")
            self._out.close()
        except BrokenPipeError:
            pass
        if self._proc.wait():
            self._stderr.seek(0)
            message = self._runner.redact(self._stderr.read().decode(errors="replace"))
            raise GitError(f"git fast-import failed: {message}")
        marks = {}
        for line in self._marks.read_text().splitlines():
            mark, object_id = line.split()
            marks[int(mark.lstrip(":"))] = object_id
        return marks
