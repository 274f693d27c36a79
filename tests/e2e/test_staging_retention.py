"""Staging retention in the backup DAG: an old failed run can still be cleared while no complete run has
superseded it; once one has, its objects go with age and clearing it fails naming the cause."""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from airflow.sdk import DagRunState

from airflow_gitsync.results import ExportTask, from_xcom
from airflow_gitsync.staging import StagingMissingError
from airflow_gitsync.tasks import backup as tasks
from tests.e2e.conftest import ROOT, xcom


def age(staging: Path, days: int) -> None:
    """Make everything staged, and every run record, ``days`` days older."""
    shift = timedelta(days=days)
    for path in [*(staging / "blobs").rglob("*"), *(staging / "packs").rglob("*")]:
        if path.is_file():
            written = path.stat().st_mtime - shift.total_seconds()
            os.utime(path, (written, written))
    for path in (staging / "runs").glob("*.json"):
        record = json.loads(path.read_bytes())
        for key in ("captured_at", "recorded_at"):
            record[key] = (datetime.fromisoformat(record[key]) - shift).isoformat()
        path.write_text(json.dumps(record))


def test_clearing_an_old_failed_export_works_until_a_complete_run_supersedes_it(backup):
    staging = backup.workdir / "staging"
    notebooks = sorted(o["path"] for o in backup.emulator.objects() if "/NOTEBOOKS/" in o["path"])
    failing = "/".join(notebooks[0].split("/")[:4])
    engagement = failing.removeprefix(ROOT + "/")
    backup.emulator.inject_failure(failing, endpoints=("export",), status=500)

    first = backup.run("2026-11-02")
    assert first.state == DagRunState.FAILED
    (old_task,) = [
        task for task in (from_xcom(ExportTask, t) for t in xcom(first, "plan")) if task.label == engagement
    ]
    age(staging, 10)

    second = backup.run("2026-11-03")  # fails the same way, but commits and sweeps
    assert second.state == DagRunState.FAILED
    swept = xcom(second, "clean_staging")
    assert swept is not None and swept["removed"] == 0, "the first run is unfinished and not superseded"
    backup.emulator.clear_failures()
    results, errors = tasks.export(old_task, {})  # what clearing the first run's export task runs
    assert errors == [] and [r.engagement for r in results.exports] == [engagement]

    backup.emulator.modify_notebook(notebooks[0])  # so no later change list equals the first run's
    age(staging, 10)
    third = backup.run("2026-11-04")
    assert third.state == DagRunState.SUCCESS
    assert xcom(third, "clean_staging")["removed"] > 0
    with pytest.raises(StagingMissingError, match="staging_retention_days"):
        tasks.export(old_task, {})


def test_a_run_whose_commit_fails_records_what_it_staged_and_removes_nothing(backup, monkeypatch):
    """The commit task records what a run staged; when it fails, ``clean_staging`` does, from every
    task's XCom, so that clearing the commit finds it all (and nothing is swept)."""

    def refused(*args, **kwargs):
        raise RuntimeError("the remote refused the push")

    monkeypatch.setattr(tasks, "commit", refused)
    run = backup.run("2026-11-02")
    assert run.state == DagRunState.FAILED and xcom(run, "clean_staging") is None
    staging = backup.workdir / "staging"
    (record,) = [json.loads(path.read_bytes()) for path in (staging / "runs").glob("*.json")]
    blobs = {p.name for p in (staging / "blobs").iterdir()}  # manifest slices and change lists
    packs = {p.stem for p in (staging / "packs").iterdir()}  # one per scan or export that exported
    assert record["complete"] is False and len(blobs) >= 2 and len(packs) >= 2
    assert (set(record["blobs"]), set(record["packs"])) == (blobs, packs)
