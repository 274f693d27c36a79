"""The verify DAG end to end: drift by listing and by content, healed by a full_scan backup; and the round
trip backup -> restore into a new root -> verify the restored tree against the tag, byte for byte."""

from __future__ import annotations

import subprocess

from airflow.sdk import DagRunState

from airflow_gitsync.layout import to_repo_path
from tests.e2e.conftest import ROOT, trigger
from tests.e2e.test_restore import backed_up, restore
from tests.fixtures.git_server import auth_env


def verify(**conf):
    """Run ``databricks_git_verify`` with ``conf``; return the run and its report's ``summary`` XCom."""
    return trigger("databricks_git_verify", "report", "summary", **conf)


def drift(summary: dict) -> list[tuple[str, str]]:
    return sorted((d["kind"], d["path"]) for d in summary["drift"])


def test_unchanged_in_sync_then_drift_that_only_full_scan_heals(backup):
    assert backup.run("2026-11-02").state == DagRunState.SUCCESS
    objects = len(backup.expected())

    run, summary = verify()  # the default: a sample
    assert run.state == DagRunState.SUCCESS
    assert (summary["ref"], summary["mode"], drift(summary), summary["failures"]) == (
        "backup/2026-11-02",
        "sample",
        [],
        [],
    )
    assert summary["totals"]["listed"] == objects and 0 < summary["sample_share"] < 1
    seed = summary["seed"]
    run, again = verify(seed=seed)
    assert again["seed"] == seed and again["totals"]["checked"] == summary["totals"]["checked"]

    run, summary = verify(mode="full")
    assert run.state == DagRunState.SUCCESS
    assert (summary["totals"]["checked"], drift(summary)) == (objects, [])

    notebooks = sorted(p for p, o in backed_up(backup.emulator).items() if o[0] == "NOTEBOOK")
    silent, touched, gone = notebooks[0], notebooks[1], notebooks[2]
    languages = {o["path"]: o.get("language") for o in backup.emulator.objects()}
    repo = {p: to_repo_path(ROOT, p, "NOTEBOOK", languages[p]) for p in (silent, touched, gone)}
    backup.emulator.modify_notebook(silent, touch=False)
    backup.emulator.modify_notebook(touched)
    backup.emulator.delete(gone)
    backup.emulator.put_notebook(f"{ROOT}/2024/ENG-new/NOTEBOOKS/fresh", b"# Databricks notebook source\n1\n")

    run, summary = verify(mode="full")
    assert run.state == DagRunState.FAILED, "content drift behind an unchanged modified_at must fail the run"
    assert drift(summary) == sorted(
        [
            ("content", repo[silent]),
            ("modified", repo[touched]),
            ("deleted", repo[gone]),
            ("added", "2024/ENG-new/NOTEBOOKS/fresh.py"),
        ]
    )
    report = next(ti for ti in run.get_task_instances() if ti.task_id == "report")
    assert report.state == "failed"

    assert backup.run("2026-11-03").state == DagRunState.SUCCESS  # a daily run does not see it
    run, summary = verify(mode="full")
    assert (run.state, drift(summary)) == (DagRunState.FAILED, [("content", repo[silent])])

    assert backup.run("2026-11-04", full_scan=True).state == DagRunState.SUCCESS
    run, summary = verify(mode="full")
    assert run.state == DagRunState.SUCCESS
    assert (summary["ref"], drift(summary)) == ("backup/2026-11-04", [])


ODD = {
    "2024/ENG-odd/NOTEBOOKS/with space/ünïcødé 名前": (
        "# Databricks notebook source\n'é'\n".encode(),
        "PYTHON",
    ),
    "2024/ENG-odd/NOTEBOOKS/queries/daily kpis": (b"-- Databricks notebook source\nSELECT 1\n", "SQL"),
    "2024/ENG-odd/NOTEBOOKS/jobs/etl.scala": (b"// Databricks notebook source\nval x = 1\n", "SCALA"),
    "2024/ENG-odd/NOTEBOOKS/r/model": (b"# Databricks notebook source\nx <- 1\n", "R"),
    "2024/ENG-odd/NOTEBOOKS/a/b/c/d/e/f/deep: a?b": (b"# Databricks notebook source\n'deep'\n", "PYTHON"),
}
FILES = {
    "2024/ENG-odd/NOTEBOOKS/data files/x y.csv": b"a,b\n1,\xff\n",
    "2024/ENG-odd/NOTEBOOKS/.gitattributes": b"* text=auto\n",
    "2024/ENG-odd/NOTEBOOKS/empty": b"",
}


def test_round_trip_backup_restore_verify_byte_identical(backup):
    for path, (source, language) in ODD.items():
        backup.emulator.put_notebook(f"{ROOT}/{path}", source, language)
    for path, data in FILES.items():
        backup.emulator.put_file(f"{ROOT}/{path}", data)
    original = backed_up(backup.emulator)
    assert backup.run("2026-11-02").state == DagRunState.SUCCESS

    target = "/Restored/2026-11-02"
    run, result = restore(ref="backup/2026-11-02", target_root=target)
    assert (run.state, result["restored"], result["failed"]) == (DagRunState.SUCCESS, len(original), [])

    run, summary = verify(mode="full", workspace_root=target)
    assert run.state == DagRunState.SUCCESS
    assert (summary["root"], summary["totals"]["checked"], drift(summary), summary["failures"]) == (
        target,
        len(original),
        [],
        [],
    )
    restored = backed_up(backup.emulator, target)
    assert restored == {target + p.removeprefix(ROOT): o for p, o in original.items()}
    assert {o[1] for o in restored.values()} >= {"PYTHON", "SQL", "SCALA", "R"}
    assert any(o[0] == "FILE" for o in restored.values())

    backup.emulator.modify_notebook(f"{target}/{next(iter(ODD))}", touch=False)
    run, summary = verify(mode="full", workspace_root=target)
    assert run.state == DagRunState.FAILED
    assert [d["kind"] for d in summary["drift"]] == ["content"]


def test_a_tag_whose_tree_disagrees_with_its_manifest_fails_naming_each_file(backup, tmp_path):
    """Issue 25: whoever can push can tag a commit whose files are not the ones its manifest lists."""
    assert backup.run("2026-11-02").state == DagRunState.SUCCESS
    deleted, changed = sorted(p for p in backup.expected() if p.isascii() and " " not in p)[:2]
    unlisted = "2024/ENG-x/NOTEBOOKS/unlisted.py"
    clone = tmp_path / "pusher"
    subprocess.run(
        ["git", "clone", "-q", "-b", "main", backup.remote, str(clone)],
        env=auth_env(backup.remote),
        check=True,
    )
    git = ["git", "-C", str(clone), "-c", "user.name=Pusher", "-c", "user.email=p@example.com"]
    subprocess.run([*git, "rm", "-q", deleted], check=True)
    (clone / changed).write_bytes(b"# Databricks notebook source\nprint('not what was backed up')\n")
    (clone / unlisted).parent.mkdir(parents=True)
    (clone / unlisted).write_bytes(b"# Databricks notebook source\n1\n")
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "tampered"], check=True)
    subprocess.run([*git, "tag", "-a", "-m", "x", "backup/2026-11-03"], check=True)
    push = [*git, "push", "-q", "origin", "HEAD:refs/heads/main", "refs/tags/backup/2026-11-03"]
    subprocess.run(push, env=auth_env(backup.remote), check=True)

    run, summary = verify(mode="full", ref="backup/2026-11-03")
    assert run.state == DagRunState.FAILED, "a tag whose files are not its manifest's must fail verify"
    assert (drift(summary), summary["failures"], summary["backup_problem_count"]) == ([], [], 3)
    problems = {p["path"]: p["reason"] for p in summary["backup_problems"]}
    assert problems.keys() == {deleted, changed, unlisted}
    assert "not in the backup's tree" in problems[deleted] and "blob" in problems[changed]
    assert problems[unlisted] == "in the tree, not in the manifest"
