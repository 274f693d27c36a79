"""The verify DAG with a repository per year (issue 28, ADR 0007), end to end with ``dag.test()``:
each year is compared with its own repository's backup, and a repository that does not exist is named."""

from __future__ import annotations

import shutil

from airflow.sdk import DagRunState

from airflow_gitsync.layout import to_repo_path
from tests.e2e.conftest import ROOT
from tests.e2e.test_sharded import sharded  # noqa: F401
from tests.e2e.test_verify import drift, verify


def test_verify_compares_each_year_with_its_own_repository(sharded):  # noqa: F811
    assert sharded.run("2026-11-02").state == DagRunState.SUCCESS

    run, summary = verify(mode="full")
    assert run.state == DagRunState.SUCCESS, summary
    assert (summary["ref"], drift(summary), summary["failures"], summary["backup_problem_count"]) == (
        "backup/2026-11-02", [], [], 0,
    )  # fmt: skip
    assert summary["totals"]["checked"] == len(sharded.expected())
    assert {"2023", "2024", "2025", "Archive"} <= summary["per_year"].keys()
    assert len(set(summary["commit"].split(","))) == 4, "one commit per repository"

    notebook = next(
        o for o in sharded.emulator.objects() if o["object_type"] == "NOTEBOOK" and "/2024/" in o["path"]
    )
    sharded.emulator.modify_notebook(notebook["path"])  # not backed up
    run, summary = verify(mode="full")
    assert run.state == DagRunState.SUCCESS, "listing drift that the next backup heals does not fail verify"
    path = to_repo_path(ROOT, notebook["path"], "NOTEBOOK", notebook.get("language"))
    assert drift(summary) == [("modified", path)]
    assert [y for y, counts in summary["per_year"].items() if counts["modified"]] == ["2024"]


def test_a_missing_year_repository_fails_verify_naming_it(sharded):  # noqa: F811
    assert sharded.run("2026-11-02").state == DagRunState.SUCCESS
    shutil.rmtree(sharded.server.root / "proj" / "_git" / "notebooks-2025")
    run, summary = verify(mode="full")
    assert run.state == DagRunState.FAILED
    [failure] = summary["failures"]
    assert failure["path"] == "(prepare)"
    assert "repository of 2025" in failure["reason"] and "notebooks-2025" in failure["reason"]


def test_a_closed_year_is_verified_at_its_archive_tag(sharded, monkeypatch):  # noqa: F811
    monkeypatch.setenv("AIRFLOW__GITSYNC__ARCHIVE_AFTER_DAYS", "0")
    objects = sharded.emulator.objects()
    notebook = next(o["path"] for o in objects if o["object_type"] == "NOTEBOOK" and "/2024/" in o["path"])
    assert sharded.run("2026-11-02").state == DagRunState.SUCCESS
    sharded.emulator.modify_notebook(notebook)
    assert sharded.run("2026-11-03").state == DagRunState.SUCCESS  # closes 2023, 2025 and other
    sharded.emulator.modify_notebook(notebook)
    assert sharded.run("2026-11-04").state == DagRunState.SUCCESS  # not tagged in the closed ones

    run, summary = verify(mode="full")
    assert run.state == DagRunState.SUCCESS, summary
    assert summary["ref"] == (
        "2023: archive/2023, 2024: backup/2026-11-04, 2025: archive/2025, other: archive/other"
    )
    assert (drift(summary), summary["failures"]) == ([], [])
    assert summary["totals"]["checked"] == len(sharded.expected())

    run, summary = verify(mode="full", ref="backup/2026-11-04")  # as a restore reads it
    assert run.state == DagRunState.SUCCESS, summary
    assert (drift(summary), summary["failures"]) == ([], [])


def test_a_deleted_year_folder_is_verified_from_the_repositories_its_tags_name(sharded):  # noqa: F811
    assert sharded.run("2026-11-02").state == DagRunState.SUCCESS
    gone = sorted(p for p in sharded.expected() if p.startswith("2025/"))
    assert gone
    sharded.emulator.delete(f"{ROOT}/2025", recursive=True)
    run, summary = verify(mode="full")
    assert run.state == DagRunState.SUCCESS, summary
    assert drift(summary) == [("deleted", path) for path in gone]
    assert summary["per_year"]["2025"]["deleted"] == len(gone)
