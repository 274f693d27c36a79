"""The backup DAG end to end with ``dag.test()``: real HTTP to the emulator, real git over HTTP."""

from __future__ import annotations

import re

from airflow.sdk import DagRunState

from airflow_gitsync.layout import to_repo_path
from airflow_gitsync.manifest import MANIFEST_PATH
from tests.e2e.conftest import ROOT
from tests.fixtures.git_server import push_commit

NOTEBOOK = "NOTEBOOK"


def _notebooks(emulator):
    return sorted(
        (o for o in emulator.objects() if o["object_type"] == NOTEBOOK and "/NOTEBOOKS/" in o["path"]),
        key=lambda o: o["path"],
    )


def test_full_incremental_and_idempotent_runs(backup):
    run = backup.run("2026-11-01")
    assert run.state == DagRunState.SUCCESS
    assert backup.tree("backup/2026-11-01") == backup.expected()
    assert backup.tree("main") == backup.expected()
    # A first sync exports whole engagements as folders, in the export tasks.
    assert {ti.state for ti in run.get_task_instances() if ti.task_id == "export"} == {"success"}

    notebooks = _notebooks(backup.emulator)
    for obj in notebooks[:3]:
        backup.emulator.modify_notebook(obj["path"])
    backup.emulator.delete(notebooks[3]["path"])
    backup.emulator.rename(notebooks[4]["path"], notebooks[4]["path"] + "_v2")
    folder = notebooks[0]["path"].rsplit("/", 1)[0]
    backup.emulator.put_notebook(f"{folder}/brand new", b"# Databricks notebook source\nprint(1)\n")
    backup.emulator.put_notebook(f"{folder}/daily kpis", b"-- Databricks notebook source\nSELECT 1\n", "SQL")

    run = backup.run("2026-11-02")
    assert run.state == DagRunState.SUCCESS
    # A few changes per engagement are exported by the scans while they list: no export task runs.
    assert {ti.state for ti in run.get_task_instances() if ti.task_id == "export"} <= {"skipped"}
    totals = backup.summary(run)["totals"]
    # a rename is a deletion plus an addition
    assert (totals["added"], totals["modified"], totals["deleted"], totals["failed"]) == (3, 3, 2, 0)
    expected = backup.expected()
    assert backup.tree("backup/2026-11-02") == expected
    assert backup.tree("backup/2026-11-01") != expected
    head = backup.git("rev-parse", "main").strip()
    log = backup.git("log", "--format=%s", "main")
    assert len(log.splitlines()) == 2

    run = backup.run("2026-11-02")
    assert run.state == DagRunState.SUCCESS
    assert backup.git("rev-parse", "main").strip() == head, "an unchanged workspace made a new commit"
    assert backup.tree("backup/2026-11-02") == expected


def test_failed_engagement_commits_the_others_then_completes(backup):
    notebooks = _notebooks(backup.emulator)
    failing = "/".join(notebooks[0]["path"].split("/")[:4])  # /Clients/<year>/<engagement>
    backup.emulator.inject_failure(failing, endpoints=("export",), status=500)

    run = backup.run("2026-11-05")
    assert run.state == DagRunState.FAILED
    tis = {(ti.task_id, ti.rendered_map_index): ti.state for ti in run.get_task_instances()}
    engagement = failing.removeprefix("/Clients/")
    assert tis[("export", engagement)] == "failed"
    assert tis[("commit", None)] == "success"
    committed = backup.tree("backup/daily")
    expected = backup.expected()
    assert committed == {p: c for p, c in expected.items() if not p.startswith(engagement + "/")}
    assert "backup/2026-11-05" not in backup.git("tag", "--list")

    backup.emulator.clear_failures()
    run = backup.run("2026-11-05")
    assert run.state == DagRunState.SUCCESS
    assert backup.tree("backup/2026-11-05") == expected


def test_dry_run_pushes_nothing_and_years_limits_the_scan(backup):
    run = backup.run("2026-11-07", dry_run=True)
    assert run.state == DagRunState.SUCCESS
    assert backup.git("for-each-ref", "--format=%(refname)") == ""
    assert not (backup.workdir / "staging" / "runs").exists(), "a dry run must not record a run"

    run = backup.run("2026-11-08", years=["2024"])
    assert run.state == DagRunState.SUCCESS
    expected = {p: c for p, c in backup.expected().items() if p.startswith("2024/")}
    assert expected and backup.tree("backup/2026-11-08") == expected


def test_batched_export_commits_what_succeeded_and_names_the_failed_engagement(backup, monkeypatch):
    monkeypatch.setenv("AIRFLOW__GITSYNC__EXPORT_TASK_CALLS", "100000")  # everything in one task
    notebooks = _notebooks(backup.emulator)
    failing = "/".join(notebooks[-1]["path"].split("/")[:4])
    engagement = failing.removeprefix("/Clients/")
    backup.emulator.inject_failure(failing, endpoints=("export",), status=503)

    run = backup.run("2026-11-12")
    assert run.state == DagRunState.FAILED
    (export,) = [ti for ti in run.get_task_instances() if ti.task_id == "export"]
    assert export.state == "failed" and "engagements)" in export.rendered_map_index
    expected = backup.expected()
    others = {p: c for p, c in expected.items() if not p.startswith(engagement + "/")}
    assert backup.tree("backup/daily") == others
    failures = [(f["path"], f["reason"]) for f in backup.summary(run)["failures"]]
    assert (engagement, "export task did not finish") in failures

    backup.emulator.clear_failures()
    assert backup.run("2026-11-12").state == DagRunState.SUCCESS
    assert backup.tree("backup/2026-11-12") == expected


def test_a_broken_manifest_record_fails_its_year_once_and_the_other_years_are_backed_up(backup, tmp_path):
    assert backup.run("2026-11-20").state == DagRunState.SUCCESS
    notebooks = _notebooks(backup.emulator)
    years = sorted({o["path"].split("/")[2] for o in notebooks})
    broken, other = years[0], years[-1]
    manifest = backup.git("show", f"backup/daily:{MANIFEST_PATH}").encode()
    lines = manifest.split(b"\n")
    number = next(n for n, line in enumerate(lines) if f'"repo_path":"{broken}/'.encode() in line)
    lines[number] = re.sub(rb'"object_id":\d+', b'"object_id":"not a number"', lines[number])
    push_commit(
        backup.remote, tmp_path / "colleague", "backup/daily", {MANIFEST_PATH: b"\n".join(lines)}, "edit"
    )
    changed = next(o["path"] for o in notebooks if o["path"].split("/")[2] == other)
    backup.emulator.modify_notebook(changed)

    run = backup.run("2026-11-21")

    assert run.state == DagRunState.FAILED
    scans = {ti.rendered_map_index: ti for ti in run.get_task_instances() if ti.task_id == "scan"}
    assert scans[broken].state == "failed" and scans[broken].try_number == 1  # not retried
    assert {ti.state for y, ti in scans.items() if y != broken} == {"success"}
    repo_path = to_repo_path(
        ROOT, changed, NOTEBOOK, next(o for o in notebooks if o["path"] == changed)["language"]
    )
    assert backup.tree("backup/daily")[repo_path] == backup.expected()[repo_path]
    assert "backup/2026-11-21" not in backup.git("tag", "--list")
