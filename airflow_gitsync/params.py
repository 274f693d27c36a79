"""Run settings: each DAG's params declared once, and validated into one typed object.

:data:`BACKUP_PARAMS`, :data:`RESTORE_PARAMS` and :data:`VERIFY_PARAMS` are the declaration: the DAG
factories turn them into the trigger form's ``Param``\\ s, and the ``from_params`` of
:class:`BackupSettings`, :class:`RestoreSettings` and :class:`VerifySettings` check a run's params
against the same JSON schemas before the rules a schema cannot say (git ref names, the tag
pattern). Bad input fails the run at its first task with a message naming the param, never
half-way. A param with a usable default accepts null (the validation gives it the default), so
the form marks only the truly required ones (``ref``). No Airflow import.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

import jsonschema

from airflow_gitsync.errors import PermanentError
from airflow_gitsync.git.commit_plan import DEFAULT_BATCH_SIZE

# git check-ref-format's rules, and no leading "-" (git commands would read the name as an option).
_REF_NAME = re.compile(
    r"^(?![-/.])(?!.*/\.)(?!.*//)(?!.*\.\.)(?!.*@\{)(?!.*\.lock(/|$))(?!@$)"
    r"[^\x00-\x20\x7f~^:?*\[\\]+(?<![/.])$"
)
# A leap year's days, at times that take every hour, minute and second: every value of every strftime
# field a logical date fills in.
_TAG_DATES = tuple(
    datetime(2000, 1, 1) + timedelta(days=n, hours=n % 24, minutes=n % 60, seconds=n % 60) for n in range(366)
)
_WORKSPACE_PATH = r"^/([^/]+(/[^/]+)*)?$"
_WORKSPACE_PATH_OR_EMPTY = r"^(/([^/]+(/[^/]+)*)?)?$"


class SettingsError(PermanentError, ValueError):
    """A param has a value the run cannot work with; the message names the param."""


@dataclass(frozen=True)
class ParamSpec:
    """One param of a DAG's trigger form: its default, JSON schema, title and description."""

    name: str
    default: Any
    schema: dict[str, Any]
    title: str
    description: str = ""

    def validate(self, value: Any) -> None:
        """Raise :class:`SettingsError` naming the param when ``value`` breaks its schema."""
        try:
            jsonschema.validate(value, self.schema)
        except jsonschema.ValidationError as exc:
            raise SettingsError(f"{self.name} {value!r}: {exc.message}") from None


def _conn(name: str, default: str, title: str) -> ParamSpec:
    return ParamSpec(
        name, default, {"type": ["string", "null"], "minLength": 1}, title, "Airflow connection id."
    )


_CONNECTIONS = (  # every DAG's last two params
    _conn("databricks_conn_id", "databricks_default", "Databricks connection"),
    _conn("git_conn_id", "azure_devops_git_default", "Azure DevOps Git connection"),
)


_TAG_FORMAT = ParamSpec(
    "tag_format",
    "backup/%Y-%m-%d",
    {"type": ["string", "null"]},
    "Tag format",
    "strftime pattern of the tag per backup date (applied to the logical date).",
)

BACKUP_PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec(
        "workspace_root",
        "/Clients",
        {"type": ["string", "null"], "pattern": _WORKSPACE_PATH},
        "Workspace root",
        "Workspace folder to back up (an absolute path like /Clients).",
    ),
    ParamSpec("branch", "main", {"type": ["string", "null"]}, "Branch", "Branch the backup is merged into."),
    ParamSpec(
        "working_branch",
        "backup/daily",
        {"type": ["string", "null"]},
        "Working branch",
        "Branch that receives the backup commits; only this DAG writes it.",
    ),
    _TAG_FORMAT,
    ParamSpec(
        "years",
        [],
        {"type": ["array", "null"], "items": {"type": "string"}},
        "Years",
        "Only these top-level folders (e.g. 2024). Empty: all of them. The tag then says which.",
    ),
    ParamSpec(
        "full_scan",
        False,
        {"type": ["boolean", "null"]},
        "Full scan",
        "Export every notebook and compare content, not timestamps (heals any drift).",
    ),
    ParamSpec(
        "commit_batch_size",
        DEFAULT_BATCH_SIZE,
        {"type": ["integer", "null"], "minimum": 1, "maximum": 100_000},
        "Commit batch size",
        "Most files per commit (the first full sync is split into several).",
    ),
    ParamSpec(
        "dry_run",
        False,
        {"type": ["boolean", "null"]},
        "Dry run",
        "Scan and report; export and commit nothing.",
    ),
    ParamSpec(
        "allow_root_change",
        False,
        {"type": ["boolean", "null"]},
        "Allow a new workspace root",
        "Back up workspace_root into a repository that holds a backup of another root "
        "(every object moves to its new path). Off: such a run fails before changing anything.",
    ),
    *_CONNECTIONS,
)

RESTORE_PARAMS: tuple[ParamSpec, ...] = (
    # Required, but checked by the task: a Param without a valid default breaks dag.test()'s failure
    # callbacks, which validate the params without the run's conf.
    ParamSpec(
        "ref",
        "",
        {"type": "string"},
        "Backup ref (required)",
        "Tag (backup/2026-11-02), branch or commit id to restore.",
    ),
    ParamSpec(
        "paths",
        [],
        {"type": ["array", "null"], "items": {"type": "string"}},
        "Paths",
        "Repo paths of folders or files to restore (2024/ENG-101). Empty: everything.",
    ),
    ParamSpec(
        "target_root",
        None,
        {"type": ["null", "string"], "pattern": _WORKSPACE_PATH_OR_EMPTY},
        "Target root",
        "Restore below this workspace folder (/Restored/2026-11-02). Empty: original paths.",
    ),
    ParamSpec(
        "overwrite",
        False,
        {"type": ["boolean", "null"]},
        "Overwrite",
        "Replace objects that exist. Off: they are left alone and reported as failed.",
    ),
    ParamSpec("dry_run", False, {"type": ["boolean", "null"]}, "Dry run", "List what would be written."),
    *_CONNECTIONS,
)


VERIFY_PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec(
        "mode",
        "sample",
        {"type": ["string", "null"], "enum": ["sample", "full", None]},
        "Mode",
        "sample: export a seeded random share of the objects ([gitsync] verify_sample_percent) and "
        "compare their content; full: every object.",
    ),
    ParamSpec(
        "seed",
        None,
        {"type": ["null", "integer"], "minimum": 0},
        "Seed",
        "Seed of the sample (the run logs the one it used; give it again to check the same objects). "
        "Empty: a new one.",
    ),
    ParamSpec(
        "ref",
        "",
        {"type": ["string", "null"]},
        "Backup ref",
        "Tag, branch or commit to compare with. Empty: the newest tag of tag_format.",
    ),
    _TAG_FORMAT,
    ParamSpec(
        "workspace_root",
        None,
        {"type": ["null", "string"], "pattern": _WORKSPACE_PATH_OR_EMPTY},
        "Workspace folder",
        "Compare this folder (a restored copy: /Restored/2026-11-02) by presence and content. "
        "Empty: the folder the backup was made from.",
    ),
    *_CONNECTIONS,
)


def _validated(specs: tuple[ParamSpec, ...], params: Mapping) -> dict[str, Any]:
    """The declared params (unknown keys ignored; missing or None take the default), each checked."""
    values = {}
    for spec in specs:
        value = params.get(spec.name)
        value = spec.default if value is None else value
        spec.validate(value)
        values[spec.name] = value
    return values


def _check_tag_format(tag_format: str) -> None:
    """Refuse a ``tag_format`` that gives an invalid git tag name on any date, or one starting with
    ``-`` (pushed, it could be restored by no git command), or the same tag on consecutive days."""
    usage = "must be a strftime pattern giving a valid git tag name per date, like backup/%Y-%m-%d"
    try:
        tags = [day.strftime(tag_format) for day in _TAG_DATES]
    except ValueError:
        raise SettingsError(f"tag_format {tag_format!r}: {usage}") from None
    for moment, tag in zip(_TAG_DATES, tags, strict=True):
        if tag.startswith("-"):
            raise SettingsError(
                f"tag_format {tag_format!r}: the tag {tag!r} starts with '-', which git commands read as "
                "an option (a restore could not name it); start it with a letter, like backup/%Y-%m-%d"
            )
        if not _REF_NAME.match(tag):
            raise SettingsError(f"tag_format {tag_format!r}: {usage} ({moment} gives {tag!r})")
    one_day, next_day = (datetime(2000, 1, day).strftime(tag_format) for day in (2, 3))
    if one_day == next_day:
        raise SettingsError(f"tag_format {tag_format!r}: {usage} (it gives two days the tag {one_day!r})")


def _ref(value: str, required: bool) -> str:
    """The ``ref`` param, stripped; an empty one only when not ``required``."""
    ref = value.strip()
    if (required and not ref) or ref.startswith("-") or any(c.isspace() or ord(c) < 32 for c in ref):
        raise SettingsError(f"ref {ref!r}: give a backup tag (backup/2026-11-02), branch or commit id")
    return ref


@dataclass(frozen=True)
class BackupSettings:
    """Everything one backup run needs to know, from the backup DAG's params."""

    workspace_root: str
    branch: str
    working_branch: str
    tag_format: str
    years: tuple[str, ...]
    full_scan: bool
    commit_batch_size: int
    dry_run: bool
    allow_root_change: bool
    databricks_conn_id: str
    git_conn_id: str

    @classmethod
    def from_params(cls, params: Mapping) -> BackupSettings:
        """Validate a run's params into settings; raises :class:`SettingsError` naming the param."""
        values = _validated(BACKUP_PARAMS, params)
        values["years"] = tuple(y for y in (str(y).strip() for y in values["years"]) if y)
        settings = cls(**values)
        settings._validate()
        return settings

    def _validate(self) -> None:
        for name in ("branch", "working_branch"):
            value = getattr(self, name)
            if not _REF_NAME.match(value):
                raise SettingsError(f"{name} {value!r}: not a valid git branch name")
        if self.branch == self.working_branch:
            raise SettingsError(f"working_branch {self.working_branch!r}: must differ from branch")
        _check_tag_format(self.tag_format)
        for year in self.years:
            if "/" in year or year in (".", ".."):
                raise SettingsError(f"years: {year!r} is not a folder name under {self.workspace_root}")

    def tag_for(self, day: datetime) -> str:
        """The backup tag name for a logical date."""
        return day.strftime(self.tag_format)

    def to_params(self) -> dict[str, Any]:
        """The settings as params again (``from_params(s.to_params()) == s``)."""
        return asdict(self) | {"years": list(self.years)}


@dataclass(frozen=True)
class RestoreSettings:
    """Everything one restore run needs to know, from the restore DAG's params."""

    ref: str
    paths: tuple[str, ...]
    target_root: str | None
    overwrite: bool
    dry_run: bool
    databricks_conn_id: str
    git_conn_id: str

    @classmethod
    def from_params(cls, params: Mapping) -> RestoreSettings:
        """Validate a run's params into settings; raises :class:`SettingsError` naming the param."""
        values = _validated(RESTORE_PARAMS, params)
        paths = tuple(p for p in (str(p).strip().strip("/") for p in values["paths"]) if p)
        ref, target_root = _ref(values["ref"], required=True), values["target_root"] or None
        return cls(**values | {"ref": ref, "paths": paths, "target_root": target_root})


@dataclass(frozen=True)
class VerifySettings:
    """Everything one verify run needs to know, from the verify DAG's params."""

    mode: str
    seed: int | None
    ref: str
    tag_format: str
    workspace_root: str | None
    databricks_conn_id: str
    git_conn_id: str

    @classmethod
    def from_params(cls, params: Mapping) -> VerifySettings:
        """Validate a run's params into settings; raises :class:`SettingsError` naming the param."""
        values = _validated(VERIFY_PARAMS, params)
        _check_tag_format(values["tag_format"])
        ref, root = _ref(values["ref"], required=False), values["workspace_root"] or None
        return cls(**values | {"ref": ref, "workspace_root": root})

    @property
    def tag_prefix(self) -> str:
        """What every backup tag starts with (the tag format up to its first ``%``): ``backup/``."""
        return self.tag_format.split("%", 1)[0]
