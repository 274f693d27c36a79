"""Staging retention: ten simulated daily runs stay within N days of changes, and what an unfinished run
still needs survives, on a local path, on file:// and on an object store shaped like abfs://."""

from __future__ import annotations

import os
from datetime import datetime, timedelta

import fsspec
import pytest
from airflow.sdk import ObjectStoragePath
from fsspec.implementations.memory import MemoryFileSystem

from airflow_gitsync.blob import git_blob_id
from airflow_gitsync.compat import UTC
from airflow_gitsync.git.packs import PackWriter
from airflow_gitsync.retention import RunRecord, record_run, still_needed, sweep
from airflow_gitsync.staging import StagingStore, _name, modified_time

DAYS = 3
DAY1 = datetime(2026, 11, 1, 2, tzinfo=UTC)


class AbfsLike(MemoryFileSystem):
    """An in-memory object store whose info carries ``last_modified`` (a datetime) as adlfs's does, and no
    ``mtime``: Airflow's ``stat_result.st_mtime`` is 0 on it."""

    protocol = "abfslike"
    store: dict = {}  # its own files, apart from memory://
    pseudo_dirs = [""]

    @classmethod
    def _strip_protocol(cls, path):
        return str(path).removeprefix("abfslike://").rstrip("/")  # "container/path", as adlfs names them

    def info(self, path, **kwargs):
        info = dict(super().info(path, **kwargs))
        info.pop("created", None)
        if info["type"] == "file":
            info["last_modified"] = self.store[self._strip_protocol(path)].modified
        return info

    def ls(self, path, detail=True, **kwargs):
        entries = super().ls(path, detail=True, **kwargs)
        return [self.info(e["name"]) for e in entries] if detail else [e["name"] for e in entries]


@pytest.fixture(params=["path", "file://", "abfslike://"])
def store(request, tmp_path, monkeypatch):
    if request.param == "path":
        return StagingStore(tmp_path)
    if request.param == "file://":
        return StagingStore(ObjectStoragePath(f"file://{tmp_path}"))
    from airflow.sdk.io import fs

    AbfsLike.store.clear()
    fsspec.register_implementation("abfslike", AbfsLike, clobber=True)
    monkeypatch.setitem(fs._register_filesystems(), "abfslike", lambda conn_id=None: AbfsLike())
    return StagingStore(ObjectStoragePath(f"abfslike://staging-{os.getpid()}/gitsync"))


def age(store: StagingStore, path, when: datetime) -> None:
    """Make a staged object look written at ``when`` (as a run on that day wrote it)."""
    if isinstance(store.root, ObjectStoragePath) and store.root.protocol == "abfslike":
        AbfsLike.store[AbfsLike._strip_protocol(path)].modified = when
    else:
        os.utime(str(path).removeprefix("file://"), (when.timestamp(), when.timestamp()))


def stage(store: StagingStore, content: bytes, when: datetime) -> str:
    """Stage ``content`` on the day ``when``: a blob staged again is young again."""
    blob_id = store.put(content)
    age(store, store.blob_path(blob_id), when)
    return blob_id


def stage_pack(store: StagingStore, content: bytes, when: datetime) -> str:
    with PackWriter() as pack:
        pack.put(content)
        name = store.put_pack(pack.finish())
    age(store, store.pack_path(name), when)
    return name


def staged(store: StagingStore) -> set[str]:
    """The staged blob ids and pack names, in the layout of today and of versions before packs."""
    names = set()
    for folder in ("blobs", "packs"):
        root = store.root / folder
        for path in root.iterdir() if root.exists() else ():
            if path.is_dir():
                names |= {_name(path) + _name(q) for q in path.iterdir()}
            else:
                names.add(_name(path).removesuffix(".pack"))
    return names


def test_ten_daily_runs_keep_n_days_of_changes_and_what_unfinished_runs_need(store):
    runs: dict[int, set[str]] = {}
    slice_2019 = None
    for day in range(1, 11):
        now = DAY1 + timedelta(days=day - 1)
        blobs = {stage(store, b"2019 slice: unchanged for years\n", now)}  # re-staged daily, never rewritten
        slice_2019 = slice_2019 or next(iter(blobs))
        blobs.add(stage(store, f"2024 slice of day {day}\n".encode(), now))
        blobs.add(stage(store, f"change list of day {day}\n".encode(), now))
        packs = {stage_pack(store, f"notebooks {n} as of day {day}\n".encode(), now) for n in range(5)}
        runs[day] = blobs | packs
        complete = day not in (4, 5, 9)  # day 4 and 5 failed and were never cleared; 9 failed last night
        record = RunRecord(
            "backup", f"day{day}", now.isoformat(), now.isoformat(), complete, sorted(blobs), sorted(packs)
        )
        record_run(store, record)
        if day != 5:  # day 5's commit failed: no sweep
            before = staged(store)
            result = sweep(store, now, DAYS)
            assert result.kept == len(staged(store)) and result.removed == len(before - staged(store))

    recent = set().union(*(runs[d] for d in (8, 9, 10)))  # recorded within the last 3 days
    assert staged(store) == recent, "day 4's failed run is superseded by day 6, a complete one"
    assert slice_2019 in staged(store), "first staged on day 1, still referenced by every run"
    assert sum(1 for _ in (store.root / "runs").iterdir()) == 3


def test_what_a_run_in_flight_stages_again_survives_another_dags_sweep(store):
    """An object first staged long ago and staged again by a run that has not recorded it yet is young:
    another DAG's sweep on the same store keeps it (issue 25, defect 7)."""
    old = DAY1 - timedelta(days=30)
    blob, pack = stage(store, b"manifest slice", old), stage_pack(store, b"notebook", old)
    assert store.put(b"manifest slice") == blob  # today's run, in flight
    with PackWriter() as writer:
        writer.put(b"notebook")
        assert store.put_pack(writer.finish()) == pack
    other = RunRecord("other_dag", "r", DAY1.isoformat(), DAY1.isoformat(), True, [])
    record_run(store, other)
    result = sweep(store, datetime.now(UTC), DAYS)
    assert (result.removed, staged(store)) == (0, {blob, pack})


def test_objects_in_the_layout_before_packs_are_swept_as_they_age(store):
    """Stores written by versions before packs hold blobs/<id[:2]>/<id[2:]>: unreferenced and old, they go."""
    kept, gone = git_blob_id(b"kept"), git_blob_id(b"gone")
    for blob_id, content in ((kept, b"kept"), (gone, b"gone")):
        path = store.root / "blobs" / blob_id[:2] / blob_id[2:]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        age(store, path, DAY1)
    record_run(store, RunRecord("backup", "r", DAY1.isoformat(), DAY1.isoformat(), False, [kept]))
    result = sweep(store, DAY1 + timedelta(days=DAYS + 1), DAYS)
    assert (result.removed, result.kept, staged(store)) == (1, 1, {kept})


def test_an_unfinished_run_keeps_its_objects_until_a_complete_run_supersedes_it(store):
    failed = RunRecord("backup", "d1", DAY1.isoformat(), DAY1.isoformat(), False, [stage(store, b"cl", DAY1)])
    record_run(store, failed)
    later = DAY1 + timedelta(days=30)
    other_dag = RunRecord("other", "x", later.isoformat(), DAY1.isoformat(), True, [])  # not superseding
    assert still_needed([failed, other_dag], later, DAYS) == [failed]
    sweep(store, later, DAYS)
    assert store.get(failed.blobs[0]) == b"cl", (
        "clearing the failed run's export must still find its change list"
    )
    done = RunRecord("backup", "d2", (DAY1 + timedelta(days=1)).isoformat(), DAY1.isoformat(), True, [])
    record_run(store, done)
    result = sweep(store, later, DAYS)
    assert (result.removed, result.records_removed) == (1, 2)
    assert staged(store) == set()


def test_objects_being_written_and_of_unknown_age_are_kept(store):
    fresh = store.put(b"written by a run in flight")  # not yet recorded by anyone
    result = sweep(store, datetime.now(UTC) + timedelta(days=DAYS - 1), DAYS)
    assert (result.removed, result.kept, staged(store)) == (0, 1, {fresh})
    assert modified_time({"size": 1}) is None and modified_time({"LastModified": DAY1}) == DAY1.timestamp()
    assert modified_time({"last_modified": DAY1}) == DAY1.timestamp() and modified_time({"mtime": 5.0}) == 5.0
