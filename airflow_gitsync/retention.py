"""Staging retention: which staged objects no run needs any more, and removing them. No Airflow import.

Each backup run records what it staged or handed on (the blob ids of its manifest slices and change
lists, the names of its tasks' packs) in the store (:meth:`StagingStore.put_record`, keyed by a hash
of its DAG and run id), with its capture time and whether it completed, whether its commit succeeded
or not. After a successful commit the run removes each staged object for which both hold:

- it was written more than ``days`` days ago. This spares whatever a run in flight is writing (of any
  DAG sharing the store) and the objects of a run that died before recording them;
- no record still references it: a run recorded in the last ``days`` days, or an incomplete run that
  no later complete run of the same DAG has superseded, so clearing its failed task still finds what
  it staged. Once a later run has captured the workspace completely, re-running the older one's tasks
  would only apply older content; its objects then go with age.

Age alone is not enough: an object's time is when it was last staged, not when a run last read it (a
year's manifest slice that has not changed for a month is staged once a day, and read by a cleared
task days later). Staging an object again makes it young (a local store sets its time, an object store
rewrites it), so a sweep of another DAG on the same store spares what a run in flight re-staged.
Records of complete runs
older than ``days`` and of superseded ones go too. A store that tells no modification time has
nothing removed (:meth:`StagingStore.sweep`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from airflow_gitsync.results import ExportTaskResult, PlanResult, PrepareResult, from_xcom, to_xcom
from airflow_gitsync.staging import StagingStore


@dataclass(frozen=True)
class RunRecord:
    """What one run of ``dag_id`` staged or handed on (``blobs`` by id, ``packs`` by name), when it
    captured the workspace and was last recorded (ISO 8601 with a time zone), and whether it
    completed (was tagged)."""

    dag_id: str
    run_id: str
    captured_at: str
    recorded_at: str
    complete: bool
    blobs: list[str]
    packs: list[str] = field(default_factory=list)

    @property
    def key(self) -> str:
        return hashlib.sha1(f"{self.dag_id}\0{self.run_id}".encode(), usedforsecurity=False).hexdigest()


@dataclass(frozen=True)
class RetentionResult:
    """One sweep: objects (and bytes) removed, objects kept, records removed, objects of unknown age
    kept. Kept objects are counted, not sized: one a record references is never looked at."""

    removed: int
    removed_bytes: int
    kept: int
    records_removed: int
    unknown_age: int

    def summary(self, days: int) -> str:
        line = (
            f"staging retention ({days} days): removed {self.removed:,} objects "
            f"({self.removed_bytes:,} bytes) and {self.records_removed:,} run records; "
            f"kept {self.kept:,} objects"
        )
        if self.unknown_age:
            line += f"; {self.unknown_age:,} kept because the store gives no modification time"
        return line


def run_references(
    prepared: PrepareResult | None, planned: PlanResult | None, exported: Iterable[ExportTaskResult]
) -> dict[str, list[str]]:
    """The :class:`RunRecord` fields ``blobs`` (manifest slices, change lists) and ``packs`` (each
    scan's and export's) of a run's tasks."""
    blobs = {y.manifest_blob for y in prepared.years if y.manifest_blob} if prepared else set()
    blobs |= {t.changes_blob for t in planned.export_tasks} if planned else set()
    return {"blobs": sorted(blobs), "packs": sorted({r.pack for r in exported if r.pack})}


def record_run(store: StagingStore, record: RunRecord) -> None:
    """Write (or replace) the run's record."""
    store.put_record(record.key, json.dumps(to_xcom(record)).encode())


def still_needed(records: Sequence[RunRecord], now: datetime, days: int) -> list[RunRecord]:
    """The records whose objects are kept: recorded in the last ``days`` days, or incomplete and not
    superseded by a complete run of the same DAG captured later."""
    since = now - timedelta(days=days)
    last_complete: dict[str, datetime] = {}
    for r in records:
        if r.complete:
            captured = datetime.fromisoformat(r.captured_at)
            last_complete[r.dag_id] = max(captured, last_complete.get(r.dag_id, captured))

    def needed(r: RunRecord) -> bool:
        if datetime.fromisoformat(r.recorded_at) > since:
            return True
        superseded = r.dag_id in last_complete and last_complete[r.dag_id] > datetime.fromisoformat(
            r.captured_at
        )
        return not r.complete and not superseded

    return [r for r in records if needed(r)]


def sweep(store: StagingStore, now: datetime, days: int) -> RetentionResult:
    """Remove the objects and run records no run needs any more (see the module docstring)."""
    records = {name: from_xcom(RunRecord, json.loads(data)) for name, data in store.records()}
    needed = still_needed(list(records.values()), now, days)
    needed_keys = {r.key for r in needed}
    expired = [name for name, r in records.items() if r.key not in needed_keys]
    for name in expired:
        store.remove_record(name)
    blobs = {blob for r in needed for blob in r.blobs}
    packs = {pack for r in needed for pack in r.packs}
    swept = store.sweep(blobs, packs, older_than=(now - timedelta(days=days)).timestamp())
    return RetentionResult(swept.removed, swept.removed_bytes, swept.kept, len(expired), swept.unknown_age)
