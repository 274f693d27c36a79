"""The backup's task callables (``airflow_gitsync.tasks.backup``), called as the DAG calls them,
without a scheduler.

Real pieces throughout: the workspace emulator, the git server, a ``file://`` staging store, the
connections from ``AIRFLOW_CONN_*``; every task's record goes through XCom's JSON on its way on.
"""

from __future__ import annotations

import json
import subprocess
from datetime import datetime

import pytest

from airflow_gitsync.compat import UTC
from airflow_gitsync.config import GitsyncConfig
from airflow_gitsync.diff import EngagementChanges
from airflow_gitsync.errors import WorkspaceError
from airflow_gitsync.layout import engagement_of, safe_name, year_of
from airflow_gitsync.manifest import load_manifest
from airflow_gitsync.params import SettingsError
from airflow_gitsync.results import ExportTaskResult, PlanResult, PrepareResult, from_xcom, to_xcom
from airflow_gitsync.tasks import backup as tasks
from airflow_gitsync.workspace.scan import ScanResult
from tests.fixtures.git_server import auth_env, clone
from tests.fixtures.wiring import wire_backup

SOURCE = b"# Databricks notebook source\nprint(1)\n"
NOTEBOOKS = {  # workspace path -> repo path
    "/Clients/readme": "readme.py",
    "/Clients/.gitsync/ENG-0/NOTEBOOKS/odd": "%2Egitsync/ENG-0/NOTEBOOKS/odd.py",
    "/Clients/2023:old/ENG-9/NOTEBOOKS/legacy": "2023%3Aold/ENG-9/NOTEBOOKS/legacy.py",
    "/Clients/2024/ENG-1/NOTEBOOKS/etl": "2024/ENG-1/NOTEBOOKS/etl.py",
    "/Clients/2024/ENG-1/NOTEBOOKS/report": "2024/ENG-1/NOTEBOOKS/report.py",
    "/Clients/2024/ENG-2/NOTEBOOKS/load": "2024/ENG-2/NOTEBOOKS/load.py",
    "/Clients/2025/ENG-3/NOTEBOOKS/model": "2025/ENG-3/NOTEBOOKS/model.py",
}
DAY = datetime(2026, 11, 1, 2, tzinfo=UTC)
TAG = "backup/2026-11-01"


@pytest.fixture
def workspace(emulator_factory, git_remote, tmp_path, monkeypatch):
    """Seven notebooks in five years (the root's own, two escaped names), an empty remote, wired up;
    returns ``(emulator, remote)``."""
    emu = emulator_factory(generate=0)
    for path in NOTEBOOKS:
        emu.put_notebook(path, SOURCE + path.encode())
    wire_backup(monkeypatch, emu.port, git_remote, tmp_path)
    return emu, git_remote


def xcom(cls, value):
    """``value`` as the next task gets it: through XCom's JSON."""
    return from_xcom(cls, json.loads(json.dumps(to_xcom(value))))


def prepare_and_scan(params, skip=()):
    """``prepare``, then ``scan`` of every year but ``skip``: (prepared, scans, the scans' exports)."""
    prepared = xcom(PrepareResult, tasks.prepare(params))
    scans, exported = [], []
    for year in prepared.years:
        if year.year not in skip:
            scan, exports = tasks.scan(year, params)
            scans.append(xcom(ScanResult, scan))
            exported.append(xcom(ExportTaskResult, exports))
    return prepared, scans, exported


def plan(prepared, scans):
    return xcom(PlanResult, tasks.plan(prepared.years, scans, max_map_length=1024))


def export_all(planned, params, skip=()):
    """``export`` of each planned task but those labelled in ``skip``; returns their results."""
    results = []
    for task in planned.export_tasks:
        if task.label not in skip:
            result, errors = tasks.export(task, params)
            assert errors == []
            results.append(xcom(ExportTaskResult, result))
    return results


def commit(prepared, planned, exported, params=None, day=DAY):
    return tasks.commit(
        prepared, planned, exported, params or {}, run_id=f"manual__{day:%F}", logical_date=day
    )


def remote_tags(remote) -> list[str]:
    out = subprocess.run(
        ["git", "ls-remote", "--tags", remote],
        env=auth_env(remote),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [line.split("refs/tags/", 1)[1] for line in out.splitlines() if not line.endswith("^{}")]


def backed_up(remote, dest) -> set[str]:
    """The notebooks on the remote's main branch (the backup's own files left out)."""
    return {
        p
        for p in clone(remote, dest)
        if not p.startswith(".gitsync/") and p not in (".gitattributes", "README.md")
    }


def test_prepare_names_each_listed_year_as_the_repository_does(workspace):
    prepared = tasks.prepare({})
    years = [(y.year, y.repo_year, y.manifest_blob) for y in prepared.years]
    assert years == [
        ("", "", None),  # the root's own objects
        (".gitsync", "%2Egitsync", None),  # the backup's state folder at the root
        ("2023:old", "2023%3Aold", None),  # ':' is forbidden on Windows
        ("2024", "2024", None),
        ("2025", "2025", None),
    ]
    assert all(repo == safe_name(year, top_level=True) for year, repo, _ in years if year)
    assert prepared.workspace_root == "/Clients"


def test_a_year_only_in_the_manifest_is_scanned_and_its_deletion_committed(workspace, tmp_path):
    emu, remote = workspace
    prepared, scans, exported = prepare_and_scan({})
    planned = plan(prepared, scans)
    assert commit(prepared, planned, exported + export_all(planned, {})).complete
    assert backed_up(remote, tmp_path / "first") == set(NOTEBOOKS.values())

    emu.delete("/Clients/2023:old", recursive=True)
    prepared = tasks.prepare({})
    slices = {y.repo_year: y for y in prepared.years}
    # Only the manifest knows the folder now, by its name in the repository.
    assert (slices["2023%3Aold"].year, slices["2023%3Aold"].manifest_blob is not None) == ("2023%3Aold", True)
    staging = GitsyncConfig.load().staging()
    for repo_year, year in slices.items():  # each year gets its own part of the manifest
        assert set(load_manifest(staging.get(year.manifest_blob))) == {
            p for p in NOTEBOOKS.values() if year_of(engagement_of(p.split("/"))) == repo_year
        }

    prepared, scans, exported = prepare_and_scan({})
    planned = plan(prepared, scans)
    done = commit(prepared, planned, exported + export_all(planned, {}), day=DAY.replace(day=2))
    assert done.complete and done.git.tag == "backup/2026-11-02"
    assert backed_up(remote, tmp_path / "second") == set(NOTEBOOKS.values()) - {
        "2023%3Aold/ENG-9/NOTEBOOKS/legacy.py"
    }


def test_the_years_param_selects_by_workspace_name_and_refuses_unknown_ones(workspace):
    prepared = tasks.prepare({"years": ["2024", "2023:old"]})
    assert [(y.year, y.repo_year) for y in prepared.years] == [("2023:old", "2023%3Aold"), ("2024", "2024")]
    with pytest.raises(SettingsError, match=r"^years: 1999, 2030 not found under /Clients$"):
        tasks.prepare({"years": ["2030", "2024", "1999"]})
    # A listed year is named as in the workspace, not by its escaped repository name.
    with pytest.raises(SettingsError, match=r"^years: 2023%3Aold not found"):
        tasks.prepare({"years": ["2023%3Aold"]})


def test_plan_names_the_years_whose_scan_did_not_finish_and_the_run_stays_untagged(workspace, tmp_path):
    _, remote = workspace
    prepared, scans, exported = prepare_and_scan({}, skip={"2025"})
    planned = plan(prepared, scans)
    assert planned.missing_years == ["2025"]
    # 2024/ENG-1 changed wholly: left to an export task, as one folder; the scans exported the rest.
    assert [e.engagement for e in planned.engagements] == ["2024/ENG-1"]
    (task,) = planned.export_tasks
    staged = from_xcom(
        list[EngagementChanges], json.loads(GitsyncConfig.load().staging().get(task.changes_blob))
    )
    assert task.label == "2024/ENG-1" and [e.engagement for e in staged] == ["2024/ENG-1"]

    done = commit(prepared, planned, exported + export_all(planned, {}))
    assert (done.complete, done.missing_engagements, done.git.tag) == (False, [], None)
    assert remote_tags(remote) == []
    assert backed_up(remote, tmp_path / "clone") == set(NOTEBOOKS.values()) - {
        "2025/ENG-3/NOTEBOOKS/model.py"
    }


def test_commit_tags_the_run_only_once_every_planned_engagement_is_exported(workspace, tmp_path):
    _, remote = workspace
    prepared, scans, exported = prepare_and_scan({})
    planned = plan(prepared, scans)
    # The export task of 2024/ENG-1 failed: the rest is committed and pushed, untagged.
    partial = commit(prepared, planned, exported + export_all(planned, {}, skip={"2024/ENG-1"}))
    assert (partial.complete, partial.missing_engagements, partial.git.tag) == (False, ["2024/ENG-1"], None)
    assert remote_tags(remote) == []
    dest = tmp_path / "partial"
    assert backed_up(remote, dest) == set(NOTEBOOKS.values()) - {
        "2024/ENG-1/NOTEBOOKS/etl.py",
        "2024/ENG-1/NOTEBOOKS/report.py",
    }
    message = subprocess.run(
        ["git", "-C", str(dest), "log", "--format=%B"], capture_output=True, text=True, check=True
    )
    assert "Incomplete: 1 engagements not exported: 2024/ENG-1" in message.stdout

    # Cleared with downstream: the export runs again, and the commit completes and tags the run.
    done = commit(prepared, planned, exported + export_all(planned, {}))
    assert (done.complete, done.missing_engagements, done.git.tag) == (True, [], TAG)
    assert remote_tags(remote) == [TAG]
    assert backed_up(remote, tmp_path / "done") == set(NOTEBOOKS.values())


def test_export_reports_an_engagement_whose_listing_failed_and_exports_the_rest(workspace, monkeypatch):
    emu, _ = workspace
    monkeypatch.setenv("AIRFLOW__GITSYNC__EXPORT_TASK_CALLS", "100")  # 2024's engagements in one task
    monkeypatch.setenv("AIRFLOW__GITSYNC__MAX_RETRY_SECONDS", "0.5")
    emu.inject_failure("/Clients/2024/ENG-2", endpoints=("list",), status=500)
    prepared, scans, exported = prepare_and_scan({}, skip={"", ".gitsync", "2023:old", "2025"})
    planned = plan(prepared, scans)
    (task,) = planned.export_tasks
    assert [e.engagement for e in planned.engagements] == ["2024/ENG-1", "2024/ENG-2"]

    result, errors = tasks.export(task, {})
    assert [e.engagement for e in result.exports] == ["2024/ENG-1"]
    assert sorted(u.repo_path for u in result.exports[0].upserts) == [
        "2024/ENG-1/NOTEBOOKS/etl.py",
        "2024/ENG-1/NOTEBOOKS/report.py",
    ]
    assert result.pack is not None
    (error,) = errors
    assert isinstance(error, WorkspaceError)
    assert "'2024/ENG-2' was not listed completely" in str(error) and "Clear scan[2024]" in str(error)
    done = commit(prepared, planned, [*exported, xcom(ExportTaskResult, result)])
    assert (done.complete, done.missing_engagements) == (False, ["2024/ENG-2"])


def test_a_dry_run_counts_from_the_scan_exports_nothing_and_pushes_nothing(workspace, tmp_path):
    emu, remote = workspace
    params = {"dry_run": True}
    prepared, scans, exported = prepare_and_scan(params)
    assert [e.exports for e in exported] == [[]] * 5  # the scans leave every engagement to the export tasks
    planned = plan(prepared, scans)
    assert len(planned.engagements) == 6
    results = export_all(planned, params)
    assert sum(e.added for r in results for e in r.exports) == len(NOTEBOOKS)
    assert all(r.pack is None and not e.upserts for r in results for e in r.exports)
    assert emu.counters()["export"]["requests"] == 0
    assert not list((tmp_path / "staging").rglob("*.pack"))

    done = commit(prepared, planned, exported + results, params)
    assert done.complete and done.git.tag is None
    listed = subprocess.run(
        ["git", "ls-remote", remote], env=auth_env(remote), capture_output=True, text=True, check=True
    )
    assert listed.stdout == ""
