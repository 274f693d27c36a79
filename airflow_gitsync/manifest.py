r"""The manifest: one record per backed-up object, committed with the content it describes.

Stored in the repository at :data:`MANIFEST_PATH` as JSON Lines, one object per line, sorted by
``repo_path`` so that a day's diff of the manifest reads like the day's diff of the content. The
JSON is ASCII (``\uXXXX`` escapes), so only ``\n`` ends a line, whatever characters a name holds.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields

from airflow_gitsync.blob import check_blob_id
from airflow_gitsync.errors import PermanentError

MANIFEST_PATH = ".gitsync/manifest.jsonl"


class ManifestError(PermanentError, ValueError):
    """A manifest file that cannot be read (a malformed line or record, a repeated path): no retry
    can fix it, only repairing the file on the backup's working branch."""


@dataclass(frozen=True, slots=True)
class ManifestEntry:
    """What was backed up for one workspace object.

    ``modified_at`` is the workspace's epoch-millisecond timestamp as listed before export; ``None``
    when the workspace gave none (or 0), in which case change detection compares ``blob_id``.
    """

    repo_path: str
    workspace_path: str
    object_id: int
    object_type: str
    language: str | None
    modified_at: int | None
    blob_id: str

    def to_json(self) -> str:
        return _ENCODER.encode({name: getattr(self, name) for name in _FIELDS})

    @classmethod
    def from_dict(cls, data: dict) -> ManifestEntry:
        try:
            entry = cls(
                repo_path=data["repo_path"],
                workspace_path=data["workspace_path"],
                object_id=int(data["object_id"]),
                object_type=data["object_type"],
                language=data.get("language"),
                modified_at=data.get("modified_at") or None,
                blob_id=check_blob_id(data["blob_id"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"bad manifest record {data!r}: {exc}") from exc
        return entry


_FIELDS = tuple(sorted(f.name for f in fields(ManifestEntry)))
_ENCODER = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"), sort_keys=True)


def join_lines(lines: Sequence[bytes]) -> bytes:
    """Record lines as a manifest file: each ends with a newline; no records, no bytes."""
    return b"\n".join(lines) + b"\n" if lines else b""


def dump_manifest(entries: Iterable[ManifestEntry]) -> bytes:
    """Serialize entries sorted by repo path; the bytes are deterministic for a given set."""
    return join_lines([e.to_json().encode() for e in sorted(entries, key=lambda e: e.repo_path)])


def _decode(data: bytes) -> tuple[list[tuple[int, bytes]], list[object]]:
    r"""Manifest bytes as their numbered record lines and each line's JSON; a line that is not JSON
    raises ``ValueError`` naming its number.

    Lines end at ``\n`` only: manifests written before the JSON was ASCII hold raw UTF-8, where
    U+0085 or U+2028 inside a name is no line break. The lines are decoded as one JSON array (a
    70,000-line manifest in a fraction of the time of a ``json.loads`` per line), and one at a time
    only when that fails or finds other than one record per line, to name the bad line.
    """
    numbered = [(n, line) for n, line in enumerate(data.split(b"\n"), start=1) if line.strip()]
    try:
        records = json.loads(b"[" + b",".join(line for _, line in numbered) + b"]")
    except ValueError:
        records = None
    if records is None or len(records) != len(numbered):
        records = [_line_record(n, line) for n, line in numbered]
    return numbered, records


def parse_manifest(data: bytes) -> Iterator[ManifestEntry]:
    """Parse manifest bytes; a malformed line raises ``ValueError`` naming its line number."""
    numbered, records = _decode(data)
    for (number, _), record in zip(numbered, records, strict=True):
        try:
            yield ManifestEntry.from_dict(record)
        except ValueError as exc:
            raise ManifestError(f"{MANIFEST_PATH} line {number}: {exc}") from exc


def manifest_lines(data: bytes) -> list[tuple[bytes, str, str]]:
    """``(line, repo path, workspace path)`` of each record of manifest bytes, without building
    entries; a record without both paths raises ``ValueError`` naming its line."""
    numbered, records = _decode(data)
    lines = []
    for (number, line), record in zip(numbered, records, strict=True):
        try:
            repo_path, workspace_path = record["repo_path"], record["workspace_path"]  # type: ignore[index]
        except (KeyError, TypeError):
            repo_path = workspace_path = None
        if type(repo_path) is not str or type(workspace_path) is not str:
            raise ManifestError(
                f"{MANIFEST_PATH} line {number}: bad manifest record {record!r}: no repo and workspace path"
            )
        lines.append((line, repo_path, workspace_path))
    return lines


def _line_record(number: int, line: bytes) -> object:
    try:
        return json.loads(line)
    except ValueError as exc:
        raise ManifestError(f"{MANIFEST_PATH} line {number}: {exc}") from exc


def load_manifest(data: bytes) -> dict[str, ManifestEntry]:
    """Manifest bytes as a dict keyed by repo path; a repeated path is an error."""
    entries: dict[str, ManifestEntry] = {}
    for entry in parse_manifest(data):
        if entry.repo_path in entries:
            raise ManifestError(f"{MANIFEST_PATH}: duplicate repo path {entry.repo_path!r}")
        entries[entry.repo_path] = entry
    return entries


class ManifestFile(Mapping[str, ManifestEntry]):
    """A manifest file's entries by repo path, each built when first read, and its lines as written.

    A run reads a few thousand of a 70,000-line manifest's entries (those it changes); building all
    of them takes most of a second, the lines alone a fifth of it. A repeated path is an error, as in
    :func:`load_manifest`; any other bad record is one when it is read.
    """

    def __init__(self, data: bytes) -> None:
        lines = manifest_lines(data)
        self.lines: dict[str, bytes] = {repo_path: line for line, repo_path, _ in lines}
        if len(self.lines) != len(lines):
            repeated = Counter(repo_path for _, repo_path, _ in lines).most_common(1)[0][0]
            raise ManifestError(f"{MANIFEST_PATH}: duplicate repo path {repeated!r}")

    def __getitem__(self, repo_path: str) -> ManifestEntry:
        line = self.lines[repo_path]
        try:
            return ManifestEntry.from_dict(json.loads(line))
        except ValueError as exc:
            raise ManifestError(f"{MANIFEST_PATH}, entry {repo_path!r}: {exc}") from exc

    def __contains__(self, repo_path: object) -> bool:
        return repo_path in self.lines

    def __iter__(self) -> Iterator[str]:
        return iter(self.lines)

    def __len__(self) -> int:
        return len(self.lines)

    def edit(self) -> ManifestLines:
        """A manifest built on this one, keeping its lines as they are."""
        return ManifestLines(dict(self.lines))


class ManifestLines:
    """A manifest being built on a base :class:`ManifestFile`, whose lines it keeps as they are:
    :meth:`dump` gives the bytes :func:`dump_manifest` gives for the result, when the base is a
    manifest it wrote."""

    def __init__(self, lines: dict[str, bytes]) -> None:
        self._lines = lines

    def put(self, repo_path: str, entry: ManifestEntry | None) -> None:
        """Record ``entry`` at ``repo_path``; None removes the path."""
        if entry is None:
            self._lines.pop(repo_path, None)
        else:
            self._lines[repo_path] = entry.to_json().encode()

    def dump(self) -> bytes:
        return join_lines([self._lines[path] for path in sorted(self._lines)])
