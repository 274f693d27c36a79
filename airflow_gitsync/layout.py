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

import hashlib
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
_STATE_DIR = MANIFEST_PATH.split("/")[0]
MAX_NAME_BYTES = 255  # one path component on ext4, APFS and NTFS (as UTF-16 units, fewer)
OWNED_ROOT_FILES = frozenset({".gitattributes", "README.md"})
"""Files at the repository's root that belong to the backup itself, never to a workspace object."""

# Characters escaped wherever they appear: % (the escape itself), control characters, what Windows
# forbids in a name, and the code points HFS+ ignores (so ".g\u200cit" cannot alias ".git" on macOS).
_ESCAPED = re.compile('[%\x00-\x1f\x7f\\\\:*?"<>|\u200c-\u200f\u202a-\u202e\u206a-\u206f\ufeff]')
_SHORT_NAME = re.compile(r"~(?=[0-9])")  # NTFS 8.3 aliases: GIT~1 is .git, GITMOD~1 .gitmodules
_GIT_SPECIAL = frozenset({".git", ".gitmodules", ".gitattributes", ".gitignore", ".mailmap"})
_WINDOWS_RESERVED = re.compile(
    r"(con|prn|aux|nul|com[0-9\u00b9\u00b2\u00b3]|lpt[0-9\u00b9\u00b2\u00b3])(\..*)?"
)


class UnsafePathError(ValueError):
    """A workspace path that cannot be written into the repository."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"unsafe path {path!r}: {reason}")
        self.path = path
        self.reason = reason


def _percent(char: str) -> str:
    return "".join(f"%{byte:02X}" for byte in char.encode("utf-8", "surrogatepass"))


def _special_reason(name: str, top_level: bool) -> str | None:
    """Why git, a git client or a filesystem would treat ``name`` specially, or None."""
    folded = name.rstrip(". ").lower()
    if name in (".", ".."):
        return f"component {name!r} is not a name"
    if folded in _GIT_SPECIAL:
        return f"{name!r} would be read by git as its own {folded}"
    if _WINDOWS_RESERVED.fullmatch(folded):
        return f"{name!r} is a reserved device name on Windows"
    if name != name.rstrip(". "):
        return "ends with a dot or space (dropped by Windows)"
    if top_level and (name == _STATE_DIR or name in OWNED_ROOT_FILES):
        return f"{name!r} at the repository root belongs to the backup"
    return None


def safe_name(name: str, suffix: str = "", *, top_level: bool = False) -> str:
    """``name`` + ``suffix`` as one repository path component that every git and every OS accepts.

    A name that git or a client would treat specially (``.git`` and its NTFS/HFS aliases,
    ``.gitmodules``, ``.gitattributes``, ``.gitignore``, ``.mailmap`` at any depth), or that a
    filesystem cannot hold (Windows-forbidden characters and device names, a trailing dot or space,
    more than :data:`MAX_NAME_BYTES` bytes) is escaped: the offending characters become ``%XX``
    (UTF-8 bytes, ``%`` itself included), a too long name is cut and ends in ``~h`` and a hash of
    the whole name. Other names are kept as they are. The manifest records the original workspace
    path, so restore never needs to undo this; two names that escape alike are reported as a
    collision, never merged.
    """
    if name in ("",):
        raise ValueError("an empty name")
    escaped = _SHORT_NAME.sub("%7E", _ESCAPED.sub(lambda m: _percent(m.group()), name))
    if (escaped + suffix).endswith((".", " ")):
        escaped = escaped[:-1] + _percent(escaped[-1])
    if _special_reason(escaped + suffix, top_level):
        escaped = _percent(escaped[0]) + escaped[1:]
    if len((escaped + suffix).encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        digest = hashlib.sha1(name.encode("utf-8", "surrogatepass"), usedforsecurity=False).hexdigest()
        tail = f"~h{digest[:12]}{suffix}"
        budget = MAX_NAME_BYTES - len(tail.encode("utf-8", "surrogatepass"))
        head = escaped.encode("utf-8", "surrogatepass")[:budget].decode("utf-8", "ignore")
        return head + tail
    return escaped + suffix


def unsafe_component_reason(name: str, top_level: bool = False) -> str | None:
    """Why ``name`` cannot be one component of a repo path as it stands, or ``None`` if it can."""
    if not name:
        return "component '' is not a name"
    if match := _ESCAPED.search(name.replace("%", "")):
        return f"contains {match.group()!r}, which git or a filesystem treats specially"
    if _SHORT_NAME.search(name):
        return "looks like an NTFS 8.3 short name"
    if len(name.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        return f"longer than {MAX_NAME_BYTES} bytes"
    return _special_reason(name, top_level)


def relative_parts(root: str, workspace_path: str) -> tuple[str, ...]:
    """The components of ``workspace_path`` below ``root`` (as the workspace names them)."""
    prefix = root.rstrip("/") + "/"
    if not workspace_path.startswith(prefix):
        raise UnsafePathError(workspace_path, f"not under {root}")
    parts = tuple(workspace_path[len(prefix) :].split("/"))
    if "" in parts:
        raise UnsafePathError(workspace_path, "an empty component")
    return parts


def repo_parts(root: str, workspace_path: str, suffix: str = "") -> tuple[str, ...]:
    """The repository path components of ``workspace_path`` below ``root``, each :func:`safe_name`;
    ``suffix`` goes on the last."""
    parts = relative_parts(root, workspace_path)
    last = len(parts) - 1
    return tuple(
        safe_name(part, suffix if i == last else "", top_level=i == 0) for i, part in enumerate(parts)
    )


def check_repo_path(repo_path: str) -> str:
    """Return ``repo_path`` if an object may be written there, else raise :class:`UnsafePathError`.

    Relative, every component safe as :func:`safe_name` leaves it, not one of the backup's own
    paths, at most :data:`MAX_REPO_PATH` characters.
    """
    if not isinstance(repo_path, str) or not repo_path or repo_path.startswith("/"):
        raise UnsafePathError(repo_path, "not a relative path")
    if len(repo_path) > MAX_REPO_PATH:
        raise UnsafePathError(repo_path, f"longer than {MAX_REPO_PATH} characters")
    for i, part in enumerate(repo_path.split("/")):
        if reason := unsafe_component_reason(part, top_level=i == 0):
            raise UnsafePathError(repo_path, reason)
    return repo_path


def extension_for(object_type: str, language: str | None) -> str:
    """The suffix added to a notebook's name; files keep their name as is."""
    if object_type != NOTEBOOK:
        return ""
    try:
        return LANGUAGE_EXTENSIONS[language or ""]
    except KeyError:
        raise ValueError(f"notebook language {language!r} has no source extension") from None


def to_repo_path(root: str, workspace_path: str, object_type: str, language: str | None) -> str:
    """``/Clients/2024/ENG-101/NOTEBOOKS/etl`` (PYTHON notebook) -> ``2024/ENG-101/NOTEBOOKS/etl.py``;
    names that git or a filesystem would misread are escaped (:func:`safe_name`)."""
    path = "/".join(repo_parts(root, workspace_path, extension_for(object_type, language)))
    if len(path) > MAX_REPO_PATH:
        raise UnsafePathError(workspace_path, f"repo path longer than {MAX_REPO_PATH} characters")
    return path


def root_of(workspace_path: str, repo_path: str) -> str:
    """The backup root an object was backed up from: its workspace path without as many trailing
    components as its repo path has (escaping keeps the count, so this holds for every entry)."""
    depth = repo_path.count("/") + 1
    return "/".join(workspace_path.split("/")[:-depth]) or "/"


def moved_to(root: str, workspace_path: str, repo_path: str) -> str:
    """Where an object backed up from ``workspace_path`` (as ``repo_path``) lies below another root:
    ``moved_to("/Restored", "/Clients/2024/A/NOTEBOOKS/etl", "2024/A/NOTEBOOKS/etl.py")`` is
    ``/Restored/2024/A/NOTEBOOKS/etl``."""
    return root.rstrip("/") + workspace_path[len(root_of(workspace_path, repo_path).rstrip("/")) :]


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
