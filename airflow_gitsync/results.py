"""What the backup DAG's tasks hand each other through XCom: task ids, keys, typed records, one
serializer and the typed pulls.

Every task returns a dataclass; :func:`to_xcom` turns it into plain JSON-safe data and
:func:`from_xcom` back, both through pydantic's ``TypeAdapter``, so no record has a hand-written
``to_dict`` / ``from_dict`` pair and a field added to a record needs nothing else. The records
that the pure modules produce (:class:`~airflow_gitsync.workspace.scan.ScanResult`,
:class:`~airflow_gitsync.workspace.export.ExportResult`) live beside the code that makes them. XCom
carries metadata only: notebook content goes through the staging store, one pack per task.
"""

from __future__ import annotations

import resource
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from typing import Any, TypeVar

from pydantic import TypeAdapter

from airflow_gitsync.compat import StrEnum
from airflow_gitsync.diff import ItemFailure
from airflow_gitsync.git.snapshot import SnapshotResult
from airflow_gitsync.verify import YearCheck
from airflow_gitsync.workspace.export import ExportResult

T = TypeVar("T")


class XComKey(StrEnum):
    """The XCom keys the backup DAG's tasks push besides their return value."""

    RUN = "run"  # prepare: the PrepareResult (its return value is the list of years to scan)
    PLAN = "plan"  # plan: the PlanResult (its return value is the list of export tasks)
    EXPORTS = "exports"  # scan and export: an ExportTaskResult (export: pushed before it fails)
    EXPORT_COUNTS = "export_counts"  # scan and export: EXPORTS' counts(), for the report
    ERROR = "error"  # prepare, plan, commit: the error they failed with, for the report
    SUMMARY = "summary"  # report: the run summary


class TaskId(StrEnum):
    """The task ids that other tasks (and the Backups view) pull from: the backup DAG's, and the
    verify DAG's ``prepare``, ``check`` and ``report``."""

    PREPARE = "prepare"
    SCAN = "scan"
    PLAN = "plan"
    EXPORT = "export"
    COMMIT = "commit"
    REPORT = "report"
    CHECK = "check"


EXPORTING_TASKS = (TaskId.SCAN, TaskId.EXPORT)  # the tasks that push XComKey.EXPORTS and EXPORT_COUNTS
RETURN_VALUE = "return_value"


def pull(ti: Any, cls: type[T], task_id: str, key: str = RETURN_VALUE) -> T | None:
    """What ``task_id`` pushed under ``key``, as ``cls``; None when it pushed nothing (it failed)."""
    value = ti.xcom_pull(task_ids=task_id, key=key)
    return None if value is None else from_xcom(cls, value)


def pull_all(ti: Any, cls: type[T], task_ids: Sequence[str], key: str = RETURN_VALUE) -> list[T]:
    """What every instance of the (mapped) ``task_ids`` pushed under ``key``, as ``cls``; an instance
    that failed may have pushed nothing."""
    pushed = ti.xcom_pull(task_ids=list(task_ids), key=key) or []
    return [from_xcom(cls, value) for value in pushed if value is not None]


@cache
def _adapter(cls: type) -> TypeAdapter:
    return TypeAdapter(cls)


def to_xcom(value: Any) -> Any:
    """``value`` (a dataclass, or a list of them) as JSON-safe data."""
    cls = list[type(value[0])] if isinstance(value, list) and value else type(value)
    return _adapter(cls).dump_python(value, mode="json")


def from_xcom(cls: type[T], data: Any) -> T:
    """Data that :func:`to_xcom` produced, as ``cls`` again (``list[X]`` works too)."""
    return _adapter(cls).validate_python(data)


def peak_rss_bytes(pid: int | str = "self") -> int:
    """A process's peak resident set: ``VmHWM`` where Linux has it, else this process's ``ru_maxrss``
    (on Linux that one also keeps the peak of the process that started this one, from before its
    exec: an ``airflow dags test`` run by a 700 MiB process reported 700 MiB for every task). 0 for
    another process that is gone."""
    try:
        with open(f"/proc/{pid}/status", "rb") as status:
            for line in status:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 if pid == "self" else 0


@dataclass(frozen=True, slots=True)
class TaskMetrics:
    """How long a task worked and the peak RSS of its process (all tasks share one under dags test)."""

    seconds: float
    peak_rss_bytes: int

    @classmethod
    def since(cls, started: float) -> TaskMetrics:
        """Seconds since ``started`` (``time.monotonic()``) and the process's peak RSS so far."""
        return cls(time.monotonic() - started, peak_rss_bytes())


@dataclass(frozen=True, slots=True)
class YearSlice:
    """One year to scan: its folder's name, its name in the repository (escaped where
    :func:`~airflow_gitsync.layout.safe_name` must), its manifest part in staging (None: none)."""

    year: str
    repo_year: str
    manifest_blob: str | None


class RepoState(StrEnum):
    """Where a backup repository stands at the start of a run (:mod:`airflow_gitsync.repositories`)."""

    ACTIVE = "active"  # fetched; committed to and tagged
    ARCHIVED = "archived"  # closed (an archive tag on main): not fetched, committed to only on a change
    SWITCHING = "switching"  # empty: starts from its years of the single repository at this run's commit
    MISSING = "missing"  # no repository at its URL: its years are not backed up, the run is incomplete


@dataclass(frozen=True, slots=True)
class Repository:
    """One repository of the run: its shard (``""``: the connection's single repository; ``2024``,
    ``other``), URL, state and, for a missing one, why."""

    shard: str
    url: str
    state: RepoState
    reason: str = ""


@dataclass(frozen=True)
class PrepareResult:
    """The run's start: when the workspace was captured, the years to scan, the repositories they go
    to, and the single repository the run switches from (``unsharded_url``; None: no switch)."""

    capture_time: str
    workspace_root: str
    years: list[YearSlice]
    metrics: TaskMetrics
    repositories: list[Repository] = field(default_factory=list)
    switch_from: str | None = None


@dataclass(frozen=True, slots=True)
class ExportTask:
    """One mapped export task: its name in the UI and its engagements' change lists in staging."""

    label: str
    changes_blob: str


@dataclass(frozen=True, slots=True)
class PlannedEngagement:
    """An engagement the run must export: how many objects, and the failures its scan found."""

    engagement: str
    objects: int
    failed: list[ItemFailure] = field(default_factory=list)


@dataclass(frozen=True)
class PlanResult:
    """The engagements to export, grouped into export tasks, and the years whose scan did not finish."""

    engagements: list[PlannedEngagement]
    export_tasks: list[ExportTask]
    missing_years: list[str]

    def missing(self, exports: Iterable[ExportResult]) -> list[str]:
        """The planned engagements that no export delivered, sorted: a run is complete (and tagged)
        only when there are none and no year is missing."""
        exported = {e.engagement for e in exports}
        return sorted(p.engagement for p in self.engagements if p.engagement not in exported)


@dataclass(frozen=True)
class ExportTaskResult:
    """One scan or export task's exports: a result per engagement that succeeded, the task's API
    counters (a scan's include its listing) and metrics, the task as the UI names it
    (``export[2024/ENG-101]``) and the staged pack that holds the blob of every upsert (None:
    nothing exported)."""

    exports: list[ExportResult]
    api: dict[str, dict[str, float]]
    metrics: TaskMetrics | None
    task: str = ""
    pack: str | None = None

    @property
    def phase(self) -> str:
        """``scan`` or ``export``: the task that produced it."""
        return self.task.partition("[")[0]

    def counts(self) -> ExportTaskResult:
        """This result with each engagement's :meth:`~ExportResult.counts`: what the report pulls.
        Pulling the change lists of a first sync took the report 10 s."""
        return replace(self, exports=[e.counts() for e in self.exports])


@dataclass(frozen=True)
class CheckTaskResult:
    """One verify check task's outcome: its year's check, the task's API counters and metrics."""

    check: YearCheck
    api: dict[str, dict[str, float]]
    metrics: TaskMetrics


@dataclass(frozen=True)
class RepositoryResult:
    """What the commit did in one repository: ``git`` (None: not touched, it is archived or missing),
    whether it was closed now (``archived``) and, when it failed, why."""

    shard: str
    url: str
    state: RepoState
    git: SnapshotResult | None = None
    archived: str | None = None  # the archive tag set by this run
    error: str = ""


@dataclass(frozen=True)
class CommitResult:
    """The commit task's outcome: what git did (across repositories: commits, bytes pushed, the
    largest repository's size), whether the run was complete (then tagged), and each repository's."""

    git: SnapshotResult
    complete: bool
    missing_engagements: list[str]
    metrics: TaskMetrics
    repositories: list[RepositoryResult] = field(default_factory=list)
