"""Staging retention: which staged objects no run needs any more, and removing them. No Airflow import.

Each backup run records what it staged or handed on (the blob ids of its manifest slices and change
lists, the names of its tasks' packs) in ``runs/<hash of dag and run id>.json``, with its capture time
and whether it completed, whether its commit succeeded or not. After a successful commit the run
removes each object under ``blobs/`` and ``packs/`` for which both hold:

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
nothing removed (Airflow's ``stat_result`` reads ``mtime`` and ``LastModified`` only, and so gives 0
for ``abfs://``'s ``last_modified``; it is read here from the info itself).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Container, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from airflow_gitsync.results import ExportTaskResult, PlanResult, PrepareResult, from_xcom, to_xcom
from airflow_gitsync.staging import BLOBS, PACK_SUFFIX, PACKS, StagingStore, StoragePath, is_local

RUNS = "runs"


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
    (store.root / RUNS).mkdir(parents=True, exist_ok=True)
    (store.root / RUNS / f"{record.key}.json").write_bytes(json.dumps(to_xcom(record)).encode())


def _records(store: StagingStore) -> Iterator[tuple[StoragePath, RunRecord]]:
    folder = store.root / RUNS
    if folder.exists():
        for path in folder.iterdir():
            yield path, from_xcom(RunRecord, json.loads(path.read_bytes()))


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


def modified_time(info: Mapping) -> float | None:
    """When a staged object was written (epoch seconds), from an object store's info (``mtime``,
    ``last_modified``, ``LastModified``); None when it does not say."""
    for key in ("mtime", "last_modified", "LastModified"):
        value = info.get(key)
        if isinstance(value, datetime):
            return value.timestamp()
        if isinstance(value, int | float) and value > 0:
            return float(value)
    return None


def _listing(
    folder: StoragePath, referenced: Container[str]
) -> tuple[int, list[tuple[str, float | None, int]], list[str]]:
    """How many objects in ``folder`` are ``referenced``; the name, time written (epoch seconds, None
    if unknown) and size of each other one; the names of its subfolders. From one listing of the
    folder (``os.scandir``, an object store's ``ls``) rather than a call per object; a referenced
    object is not stat'ed: in a store of a week's runs nearly all are. A missing folder is empty."""
    count, others, folders = 0, [], []
    try:
        if is_local(folder):
            with os.scandir(folder) as entries:
                listed = [
                    (e.name, e.is_dir(), None if e.is_dir() or e.name in referenced else e.stat())
                    for e in entries
                ]
            infos = [(n, d, st and (st.st_mtime or None), st and st.st_size) for n, d, st in listed]
        else:
            infos = [
                (_name(i["name"]), i.get("type") == "directory", modified_time(i), int(i.get("size") or 0))
                for i in folder.fs.ls(folder.path, detail=True)  # type: ignore[attr-defined]
            ]
    except FileNotFoundError:
        return 0, [], []
    for name, is_folder, written, size in infos:
        if is_folder:
            folders.append(name)
        elif name in referenced:
            count += 1
        else:
            others.append((name, written, size))
    return count, others, folders


def _name(path: StoragePath | str) -> str:
    """The last component of ``path``, from its text (``name`` is not reliable on every object
    store's path class)."""
    return str(path).rstrip("/").rsplit("/", 1)[-1]


def sweep(store: StagingStore, now: datetime, days: int) -> RetentionResult:
    """Remove the objects and run records no run needs any more (see the module docstring)."""
    records = dict(_records(store))
    needed = still_needed(list(records.values()), now, days)
    needed_keys = {r.key for r in needed}
    expired = [path for path, r in records.items() if r.key not in needed_keys]
    for path in expired:
        path.unlink(missing_ok=True)
    oldest = (now - timedelta(days=days)).timestamp()
    blobs = {blob for r in needed for blob in r.blobs}
    packs = {pack + PACK_SUFFIX for r in needed for pack in r.packs}
    removed = removed_bytes = kept = unknown = 0

    def sweep_folder(folder: StoragePath, referenced: Container[str]) -> list[str]:
        nonlocal removed, removed_bytes, kept, unknown
        count, others, folders = _listing(folder, referenced)
        kept += count
        for name, written, size in others:
            if written is None or written > oldest:
                kept, unknown = kept + 1, unknown + (written is None)
            else:
                (folder / name).unlink(missing_ok=True)
                removed, removed_bytes = removed + 1, removed_bytes + size
        return folders

    sweep_folder(store.root / PACKS, packs)
    # Versions before packs staged every notebook as blobs/<id[:2]>/<id[2:]>: swept as they age.
    for prefix in sweep_folder(store.root / BLOBS, blobs):
        sweep_folder(store.root / BLOBS / prefix, {b[2:] for b in blobs if b[:2] == prefix})
    return RetentionResult(removed, removed_bytes, kept, len(expired), unknown)
