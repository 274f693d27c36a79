"""Where a workspace object lands in the backup repository, and which engagement it belongs to.

The expected workspace layout is ``<root>/{year}/{engagement}/NOTEBOOKS/<name>``. Every object under
the root is backed up, in or out of that layout; :func:`in_layout` only decides whether it is
reported as misplaced. Two words name the pieces a run is cut into, everywhere in the code:

- a *year* is a top-level folder below the root (``"2024"``, or ``""`` for objects lying directly
  in the root): one ``scan`` task lists it;
- an *engagement* is the first two folder levels of a path (``"2024/ENG-101"``, or ``"2024"`` /
  ``""`` for objects lying directly in a year folder or in the root): the unit of change
  detection and export, named in the UI by its export task.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence

from airflow_gitsync.manifest import MANIFEST_PATH

LANGUAGE_EXTENSIONS = {"PYTHON": ".py", "SQL": ".sql", "SCALA": ".scala", "R": ".r"}
EXTENSION_LANGUAGES = {ext: language for language, ext in LANGUAGE_EXTENSIONS.items()}
NOTEBOOK = "NOTEBOOK"
FILE = "FILE"
DIRECTORY = "DIRECTORY"
MAX_REPO_PATH = 4096

_YEAR = re.compile(r"\d{4}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_RESERVED_TOP = MANIFEST_PATH.split("/")[0]


class UnsafePathError(ValueError):
    """A workspace path that cannot be written safely into the repository."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"unsafe path {path!r}: {reason}")
        self.path = path
        self.reason = reason


def relative_parts(root: str, workspace_path: str) -> tuple[str, ...]:
    """The components of ``workspace_path`` below ``root``, each checked by :func:`check_component`."""
    prefix = root.rstrip("/") + "/"
    if not workspace_path.startswith(prefix):
        raise UnsafePathError(workspace_path, f"not under {root}")
    parts = tuple(workspace_path[len(prefix) :].split("/"))
    for part in parts:
        reason = unsafe_component_reason(part)
        if reason:
            raise UnsafePathError(workspace_path, reason)
    if parts[0] == _RESERVED_TOP:
        raise UnsafePathError(workspace_path, f"{_RESERVED_TOP!r} is reserved for the backup's own state")
    return parts


def check_repo_path(repo_path: str) -> str:
    """Return ``repo_path`` if an object may be written there, else raise :class:`UnsafePathError`.

    The same rules as for workspace paths: relative, no unsafe component, not under the
    backup's own ``.gitsync/`` folder, at most :data:`MAX_REPO_PATH` characters.
    """
    if not isinstance(repo_path, str) or not repo_path or repo_path.startswith("/"):
        raise UnsafePathError(repo_path, "not a relative path")
    if len(repo_path) > MAX_REPO_PATH:
        raise UnsafePathError(repo_path, f"longer than {MAX_REPO_PATH} characters")
    parts = repo_path.split("/")
    for part in parts:
        if reason := unsafe_component_reason(part):
            raise UnsafePathError(repo_path, reason)
    if parts[0] == _RESERVED_TOP:
        raise UnsafePathError(repo_path, f"{_RESERVED_TOP!r} is reserved for the backup's own state")
    return repo_path


def unsafe_component_reason(name: str) -> str | None:
    """Why ``name`` cannot be one component of a repo path, or ``None`` if it can."""
    if name in ("", ".", ".."):
        return f"component {name!r} is not a name"
    if name.rstrip(". ").lower() == ".git":
        return "component '.git' would be interpreted by git"
    if _CONTROL.search(name):
        return "contains a control character"
    if "\\" in name:
        return "contains a backslash (a separator on Windows)"
    return None


def extension_for(object_type: str, language: str | None) -> str:
    """The suffix added to a notebook's name; files keep their name as is."""
    if object_type != NOTEBOOK:
        return ""
    try:
        return LANGUAGE_EXTENSIONS[language or ""]
    except KeyError:
        raise ValueError(f"notebook language {language!r} has no source extension") from None


def to_repo_path(root: str, workspace_path: str, object_type: str, language: str | None) -> str:
    """``/Clients/2024/ENG-101/NOTEBOOKS/etl`` (PYTHON notebook) -> ``2024/ENG-101/NOTEBOOKS/etl.py``."""
    path = "/".join(relative_parts(root, workspace_path)) + extension_for(object_type, language)
    if len(path) > MAX_REPO_PATH:
        raise UnsafePathError(workspace_path, f"repo path longer than {MAX_REPO_PATH} characters")
    return path


def to_workspace_path(root: str, repo_path: str, object_type: str) -> str:
    """The inverse of :func:`to_repo_path`: strip a notebook's source extension, prefix the root."""
    if object_type == NOTEBOOK:
        stem, dot, ext = repo_path.rpartition(".")
        if not dot or "." + ext not in EXTENSION_LANGUAGES:
            raise ValueError(f"notebook repo path {repo_path!r} has no source extension")
        repo_path = stem
    return root.rstrip("/") + "/" + repo_path


def engagement_of(parts: Sequence[str]) -> str:
    """The engagement of an object from its path components below the root (repo or workspace side)."""
    return "/".join(parts[: min(len(parts) - 1, 2)])


def year_of(engagement: str) -> str:
    """The year (top-level folder, ``""`` for the root) an engagement belongs to."""
    return engagement.split("/")[0]


def in_layout(parts: Sequence[str]) -> bool:
    """True for objects under ``{4-digit year}/{engagement}/NOTEBOOKS/``."""
    return len(parts) >= 4 and bool(_YEAR.fullmatch(parts[0])) and parts[2] == "NOTEBOOKS"


def case_collisions(paths: Iterable[str]) -> list[list[str]]:
    """Groups of distinct paths that are equal ignoring case (they clash on Windows and macOS)."""
    groups: dict[str, set[str]] = defaultdict(set)
    for path in paths:
        groups[path.casefold()].add(path)
    return sorted(sorted(group) for group in groups.values() if len(group) > 1)
