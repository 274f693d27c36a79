"""A repository per year (ADR 0007): which repository holds a path, the switch record, closed years.

No Airflow import. A git connection whose URL holds ``{year}`` shards the backup: the year folder
``2024`` goes to the repository the URL names with ``2024``; every top-level name that is not four
digits (and the objects directly under the root) goes to the shard ``other``, so no workspace name
ever becomes part of a URL. Each shard is a full backup repository of its own (``main``, working
branch, tags, a manifest of its years only).

Switching an existing deployment keeps its single repository as the history before the switch: its
last commit holds :data:`SWITCH_PATH` (a :class:`SwitchRecord`) and is tagged ``sharded/<date>``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import date

from airflow_gitsync.errors import PermanentError

YEAR_FIELD = "{year}"
OTHER = "other"
SWITCH_PATH = ".gitsync/SHARDED.json"
SWITCH_TAG_PREFIX = "sharded/"
ARCHIVE_TAG_PREFIX = "archive/"
REGISTRY_PREFIX = "Repositories: "
_REGISTRY_MAX = 1000  # shards read from one message: a hostile message cannot make a run open more
_YEAR = re.compile(r"[0-9]{4}")


class ShardingError(PermanentError, ValueError):
    """A URL template or a switch record that cannot be used; the message names what is wrong."""


def is_template(url: str) -> bool:
    """Whether the git connection's URL shards the backup by year."""
    return YEAR_FIELD in url


def shard_of(repo_year: str) -> str:
    """The shard of a year folder, by its name in the repository: itself when four digits, else
    :data:`OTHER`."""
    return repo_year if _YEAR.fullmatch(repo_year) else OTHER


def shard_of_path(repo_path: str) -> str:
    """The shard of a repository path (``2024/ENG-101/NOTEBOOKS/etl.py``: ``2024``)."""
    top, sep, _ = repo_path.partition("/")
    return shard_of(top) if sep else OTHER


def shard_url(template: str, shard: str) -> str:
    """The URL of ``shard``'s repository: ``template`` with ``{year}`` replaced."""
    if not is_template(template):
        raise ShardingError(f"the repository URL {template!r} has no {YEAR_FIELD} to shard by")
    if shard != OTHER and not _YEAR.fullmatch(shard):
        raise ShardingError(f"shard {shard!r}: a year of four digits or {OTHER!r}")
    return template.replace(YEAR_FIELD, shard)


def registry_line(shards: Iterable[str]) -> str:
    """The line every tag of a sharded run carries: the run's repositories, so that a later run
    also opens a year's repository whose folder has gone from the workspace (its deletion is then
    committed)."""
    return REGISTRY_PREFIX + " ".join(sorted(set(shards)))


def parse_registry(text: str) -> set[str]:
    """The shards a tag message's registry line names; anything that is not a shard is ignored."""
    found: set[str] = set()
    for line in text.splitlines():
        if line.startswith(REGISTRY_PREFIX):
            names = line[len(REGISTRY_PREFIX) :].split()[:_REGISTRY_MAX]
            found |= {n for n in names if n == OTHER or _YEAR.fullmatch(n)}
    return found


def switch_tag(day: date) -> str:
    """The tag on the single repository's last commit: ``sharded/2026-12-04``."""
    return f"{SWITCH_TAG_PREFIX}{day.isoformat()}"


def archive_tag(shard: str) -> str:
    """The tag that closes a shard: ``archive/2019``."""
    return f"{ARCHIVE_TAG_PREFIX}{shard}"


def is_archived(refs: Mapping[str, str], shard: str, branch: str) -> bool:
    """Whether ``shard`` is closed: an ``archive/<shard>`` tag (or ``archive/<shard>.N``, after a
    re-opening) points at its ``branch``, from the remote's refs as ``git ls-remote`` lists them
    (``{ref: object id}``, annotated tags peeled as ``<ref>^{}``)."""
    head = refs.get(f"refs/heads/{branch}")
    if head is None:
        return False
    name = f"refs/tags/{archive_tag(shard)}"
    for ref, object_id in refs.items():
        if ref.endswith("^{}") and object_id == head:
            tag = ref.removesuffix("^{}")
            if tag == name or (tag.startswith(name + ".") and tag[len(name) + 1 :].isdigit()):
                return True
    return False


@dataclass(frozen=True)
class SwitchRecord:
    """The switch from one repository to one per year: its date, the tag on the single repository's
    last commit, and each shard's repository (URLs without credentials) at the switch."""

    day: str  # ISO date: backups dated before it are in the single repository
    tag: str
    repositories: dict[str, str]

    def dump(self) -> bytes:
        return (json.dumps(asdict(self), indent=2, sort_keys=True) + "\n").encode()
