"""Packs as the staged unit: written by a task from many threads, staged, gathered into a real mirror."""

from __future__ import annotations

import dataclasses
import logging
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest

from airflow_gitsync.blob import git_blob_id
from airflow_gitsync.gather import gather
from airflow_gitsync.git.auth import GitAuth
from airflow_gitsync.git.mirror import Mirror
from airflow_gitsync.git.packs import PackError, PackWriter, pack_name
from airflow_gitsync.manifest import ManifestEntry
from airflow_gitsync.results import ExportTaskResult
from airflow_gitsync.staging import StagingStore
from airflow_gitsync.workspace.export import ExportResult

log = logging.getLogger(__name__)


@pytest.fixture
def mirror(tmp_path) -> Mirror:
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    mirror = Mirror(tmp_path / "mirror.git", f"file://{remote}", GitAuth.none(), log)
    mirror.sync()
    return mirror


def _cat(mirror: Mirror, blob_id: str) -> bytes:
    return mirror.git.run("cat-file", "blob", blob_id).stdout


def test_a_pack_written_from_many_threads_holds_each_blob_once_and_indexes_verified(mirror):
    contents = [
        f"# Databricks notebook source\nprint({i % 100})\n".encode() * (1 + i % 5) for i in range(2000)
    ]
    contents += [b"", b"x" * 70_000]  # empty, and one whose size needs several header bytes
    with PackWriter() as pack, ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(pack.put, contents))
        data = pack.finish()
    assert ids == [git_blob_id(c) for c in contents]
    assert len(pack) == len(set(ids)) < len(ids)
    assert pack_name(data) == data[-20:].hex()
    assert mirror.index_pack(data) == set(ids)
    assert all(_cat(mirror, git_blob_id(c)) == c for c in contents[:50] + contents[-2:])
    subprocess.run(["git", f"--git-dir={mirror.path}", "fsck", "--strict", "--no-dangling"], check=True)


def test_nothing_put_is_no_pack_and_damaged_bytes_are_no_pack(mirror):
    with PackWriter() as pack:
        assert pack.finish() is None
    with PackWriter() as pack:
        pack.put(b"content")
        data = pack.finish()
    for damaged in (data[:-1], data[:12] + b"\0" + data[13:], b"PACK"):
        with pytest.raises(PackError):
            pack_name(damaged)


def _task(staging: StagingStore, task: str, engagement: str, contents: list[bytes]) -> ExportTaskResult:
    """A scan or export task's outcome: its engagement's upserts, its pack staged."""
    with PackWriter() as pack:
        upserts = [
            ManifestEntry(
                f"2024/{engagement}/NOTEBOOKS/n{i}.py", f"/Clients/2024/{engagement}/NOTEBOOKS/n{i}",
                i + 1, "NOTEBOOK", "PYTHON", 1_700_000_000_000, pack.put(content),
            )
            for i, content in enumerate(contents)
        ]  # fmt: skip
        name = staging.put_pack(pack.finish())
    return ExportTaskResult([ExportResult(f"2024/{engagement}", upserts)], {}, None, task, name)


def test_the_commit_gathers_sound_packs_and_names_the_task_of_each_unsound_one(mirror, tmp_path):
    staging = StagingStore(tmp_path / "staging")
    good = _task(staging, "export[2024/ENG-1]", "ENG-1", [b"one", b"two"])
    corrupt = _task(staging, "export[2024/ENG-2]", "ENG-2", [b"three"])
    missing = _task(staging, "scan[2024]", "ENG-3", [b"four"])
    lacking = _task(staging, "export[2024/ENG-4]", "ENG-4", [b"five"])
    entry = lacking.exports[0].upserts[0]
    lacking.exports[0].upserts[0] = dataclasses.replace(entry, blob_id=git_blob_id(b"not in its pack"))
    deletions_only = ExportTaskResult(
        [ExportResult("2024/ENG-5", deletions=["2024/ENG-5/x.py"])], {}, None, "s"
    )
    path = staging.pack_path(corrupt.pack)
    data = path.read_bytes()
    path.write_bytes(data[:14] + bytes([data[14] ^ 1]) + data[15:])
    staging.pack_path(missing.pack).unlink()

    gathered = gather(mirror, staging, [good, corrupt, missing, lacking, deletions_only], log)

    assert [e.engagement for e in gathered.exports] == ["2024/ENG-1", "2024/ENG-5"]
    assert (gathered.packs, gathered.blobs) == (1, 2)
    assert [_cat(mirror, u.blob_id) for u in good.exports[0].upserts] == [b"one", b"two"]
    failures = "\n".join(gathered.failures)
    assert len(gathered.failures) == 3
    corrupted = f"staging store {staging.root}: pack {corrupt.pack} is corrupt"
    assert f"export[2024/ENG-2] (2024/ENG-2) not committed: {corrupted}" in failures
    assert not path.exists(), "a corrupt pack is removed, so that the export stages it afresh"
    assert f"scan[2024] (2024/ENG-3) not committed: staging store {staging.root} has no pack" in failures
    assert (
        "export[2024/ENG-4] (2024/ENG-4) not committed: pack" in failures
        and "lacks 1 of its blobs" in failures
    )
    assert failures.count("with downstream to export it again") == 3
