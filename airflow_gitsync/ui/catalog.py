"""What the history browser keeps in memory, derived from git: the backups on the working branch
(:class:`Timeline`), a manifest's searchable paths (:class:`NotebookIndex`) and the paths deleted
along the branch (:func:`deleted_paths`). Pure: built from git's output, read by
:class:`~airflow_gitsync.ui.browse.BackupRepository`."""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from datetime import datetime

from airflow_gitsync.layout import OWNED_ROOT_FILES
from airflow_gitsync.manifest import MANIFEST_PATH, manifest_lines

_STATE_DIR = MANIFEST_PATH.split("/")[0] + "/"


@dataclass(frozen=True)
class Backup:
    """A backup tag: its name, the commit it tags and its date (from the name, else the tag's date)."""

    tag: str
    commit: str
    day: str


class Timeline:
    """The working branch's commits (first parent, newest first) and the backups tagged on them."""

    def __init__(self, commits: list[str], tagged: dict[str, Backup]) -> None:
        self.commits = commits
        self.tagged = tagged
        self._position = {commit: n for n, commit in enumerate(commits)}
        self._tagged_at = sorted(self._position[c] for c in tagged if c in self._position)

    def brought_by(self, commit: str) -> Backup | None:
        """The first backup holding ``commit`` (the one whose run wrote it); None: not tagged yet."""
        n = self._position.get(commit)
        if n is None:
            return None
        i = bisect.bisect_right(self._tagged_at, n)
        return self.tagged[self.commits[self._tagged_at[i - 1]]] if i else None

    def last_before(self, commit: str) -> Backup | None:
        """The newest backup at or before ``commit``; None: none."""
        n = self._position.get(commit)
        if n is None:
            return None
        i = bisect.bisect_left(self._tagged_at, n)
        return self.tagged[self.commits[self._tagged_at[i]]] if i < len(self._tagged_at) else None

    def parent(self, commit: str) -> str | None:
        n = self._position.get(commit)
        return self.commits[n + 1] if n is not None and n + 1 < len(self.commits) else None

    @property
    def backups(self) -> list[Backup]:
        """Newest first."""
        return [self.tagged[self.commits[n]] for n in self._tagged_at]


class NotebookIndex:
    """A manifest's paths, searchable by a case-insensitive fragment of the workspace or repo path."""

    def __init__(self, manifest: bytes) -> None:
        lines = manifest_lines(manifest)
        self.repo_paths = [repo for _, repo, _ in lines]
        self.workspace_paths = [workspace for _, _, workspace in lines]
        self.present = frozenset(self.repo_paths)
        self._keys = [f"{w}\0{r}".casefold() for _, r, w in lines]

    def matches(self, fragment: str) -> list[int]:
        needle = fragment.casefold()
        return [n for n, key in enumerate(self._keys) if needle in key]

    def __len__(self) -> int:
        return len(self.repo_paths)


def tag_day(tag: str, tag_format: str, fallback: str) -> str:
    try:
        return datetime.strptime(tag, tag_format).date().isoformat()
    except ValueError:
        return fallback


def deleted_paths(text: bytes) -> dict[str, str]:
    """``{path: newest deleting commit}`` from ``git log -z --name-only --format=%x01%H``."""
    deleted: dict[str, str] = {}
    for record in text.split(b"\x01")[1:]:
        commit, _, paths = record.partition(b"\0")
        for path in paths.lstrip(b"\n").split(b"\0"):
            name = path.decode(errors="surrogateescape")
            if name and not name.startswith(_STATE_DIR) and name not in OWNED_ROOT_FILES:
                deleted.setdefault(name, commit.decode())
    return deleted
