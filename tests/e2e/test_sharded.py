"""A repository per year (issue 28, ADR 0007), end to end with ``dag.test()`` against the git server:
a sharded backup byte for byte, a closed year that daily runs no longer fetch, and the switch of an
existing deployment with restores from before and after it."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from airflow.sdk import DagRunState

from airflow_gitsync.git.mirror import mirror_dir
from airflow_gitsync.layout import OWNED_ROOT_FILES
from airflow_gitsync.manifest import MANIFEST_PATH
from airflow_gitsync.shards import SWITCH_PATH, shard_of_path
from tests.e2e.conftest import Backup, trigger
from tests.e2e.test_restore import backed_up
from tests.fixtures.git_server import GIT_TOKEN, GIT_USER, auth_env, clone

SHARDS = ("2023", "2024", "2025", "other")


def files(url: str, dest, ref: str = "main") -> dict[str, bytes]:
    """The backed-up files of ``ref`` in the repository at ``url`` (fsck'd), without the backup's own."""
    found = clone(url, dest, ref)
    return {p: b for p, b in found.items() if not p.startswith(".gitsync/") and p not in OWNED_ROOT_FILES}


def refs_of(url: str) -> dict[str, str]:
    listing = subprocess.run(
        ["git", "ls-remote", "--refs", url], env=auth_env(url), check=True, capture_output=True, text=True
    ).stdout
    return {ref: oid for oid, ref in (line.split("\t") for line in listing.splitlines())}


def tags(url: str) -> set[str]:
    return {ref.removeprefix("refs/tags/") for ref in refs_of(url) if ref.startswith("refs/tags/")}


def shard_git(monkeypatch, backup: Backup, template: str, unsharded_url: str | None = None) -> None:
    extra = {"unsharded_url": unsharded_url} if unsharded_url else {}
    connection = {"conn_type": "azure_devops_git", "host": template, "login": GIT_USER, "password": GIT_TOKEN}
    monkeypatch.setenv("AIRFLOW_CONN_AZURE_DEVOPS_GIT_DEFAULT", json.dumps(connection | {"extra": extra}))


@pytest.fixture
def sharded(backup: Backup, monkeypatch) -> Backup:
    """The backup fixture's workspace plus a notebook outside any year folder, and a repository per
    year (and ``other``) on the git server."""
    backup.emulator.put_notebook("/Clients/Archive/old-notes", b"# Databricks notebook source\nprint(1)\n")
    backup.emulator.put_notebook(
        "/Clients/2025/ENG-2025-9999/NOTEBOOKS/new", b"# Databricks notebook source\n"
    )
    for shard in SHARDS:  # as Azure DevOps names them, so that its REST API reports their sizes
        backup.server.create_repo(f"proj/_git/notebooks-{shard}")
    shard_git(monkeypatch, backup, url(backup, "{year}"))
    return backup


def url(backup: Backup, shard: str) -> str:
    return backup.server.url_for(f"proj/_git/notebooks-{shard}")


def by_shard(expected: dict[str, bytes]) -> dict[str, dict[str, bytes]]:
    parts: dict[str, dict[str, bytes]] = {shard: {} for shard in SHARDS}
    for path, content in expected.items():
        parts[shard_of_path(path)][path] = content
    return parts


def test_a_sharded_backup_puts_each_year_byte_for_byte_in_its_own_repository(sharded, tmp_path):
    run = sharded.run("2026-11-02")
    assert run.state == DagRunState.SUCCESS
    expected = by_shard(sharded.expected())
    assert expected["other"] and all(expected.values())
    for shard in SHARDS:
        assert files(url(sharded, shard), tmp_path / shard) == expected[shard], shard
        manifest = (tmp_path / shard / MANIFEST_PATH).read_text().splitlines()
        assert {shard_of_path(json.loads(line)["repo_path"]) for line in manifest} == {shard}
        assert "backup/2026-11-02" in tags(url(sharded, shard))
    summary = Backup.summary(run)
    assert summary["complete"] and summary["commit"]["tag"] == "backup/2026-11-02"
    assert [r["shard"] for r in summary["repositories"]] == list(SHARDS)
    assert all(r["state"] == "active" and r["tag"] == "backup/2026-11-02" for r in summary["repositories"])
    sizes = {r["shard"]: r["repo_size_bytes"] for r in summary["repositories"]}  # the server's word
    objects = sharded.server.root / "proj" / "_git" / "notebooks-2024" / "objects"
    assert sizes["2024"] == sum(f.stat().st_size for f in objects.rglob("*") if f.is_file())
    assert all(sizes.values()) and summary["commit"]["repo_size_bytes"] == max(sizes.values())

    # Everything, from every year's repository (found by its refs: no list of repositories to keep).
    run, result = trigger(
        "databricks_git_restore", "restore", "result", ref="backup/2026-11-02", target_root="/R", dry_run=True
    )
    assert run.state == DagRunState.SUCCESS, result
    workspace = backed_up(sharded.emulator)
    assert sorted(result["planned"]) == sorted("/R" + p.removeprefix("/Clients") for p in workspace)


def test_a_year_folder_deleted_from_the_workspace_has_its_deletion_committed(sharded, tmp_path):
    assert sharded.run("2026-11-02").state == DagRunState.SUCCESS
    sharded.emulator.delete("/Clients/2025", recursive=True)
    run = sharded.run("2026-11-03")
    assert run.state == DagRunState.SUCCESS
    assert files(url(sharded, "2025"), tmp_path / "2025") == {}
    assert "backup/2026-11-03" in tags(url(sharded, "2025"))
    assert Backup.summary(run)["totals"]["deleted"] > 0


def test_a_run_limited_to_a_year_writes_only_that_years_repository(sharded):
    assert sharded.run("2026-11-02").state == DagRunState.SUCCESS
    run = sharded.run("2026-11-03", years=["2024"])
    assert run.state == DagRunState.SUCCESS
    assert [r["shard"] for r in Backup.summary(run)["repositories"]] == ["2024"]
    assert "backup/2026-11-03" in tags(url(sharded, "2024"))
    assert not any("backup/2026-11-03" in tags(url(sharded, s)) for s in SHARDS if s != "2024")


def test_a_missing_repository_fails_the_run_naming_it_and_the_others_are_backed_up(sharded, tmp_path):
    shutil.rmtree(sharded.server.root / "proj" / "_git" / "notebooks-2025")
    run = sharded.run("2026-11-02")
    assert run.state == DagRunState.FAILED
    summary = Backup.summary(run)
    assert not summary["complete"]
    assert [f["path"] for f in summary["failures"]] == ["(repository 2025)"]
    assert "notebooks-2025 not found" in summary["failures"][0]["reason"]
    assert summary["failures"][0]["reason"].endswith("create the repository")
    expected = by_shard(sharded.expected())
    assert files(url(sharded, "2024"), tmp_path / "2024") == expected["2024"]
    assert "backup/2026-11-02" not in tags(url(sharded, "2024")), "an incomplete run was tagged"


def test_a_closed_year_is_not_fetched_and_a_change_reopens_it(sharded, monkeypatch, tmp_path):
    monkeypatch.setenv("AIRFLOW__GITSYNC__ARCHIVE_AFTER_DAYS", "0")
    notebooks = {
        o["path"].split("/")[2]: o["path"]
        for o in sharded.emulator.objects()
        if o["object_type"] == "NOTEBOOK" and "/NOTEBOOKS/" in o["path"]
    }
    assert sharded.run("2026-11-02").state == DagRunState.SUCCESS  # every repository changed: none closed
    assert not any(t.startswith("archive/") for shard in SHARDS for t in tags(url(sharded, shard)))

    sharded.emulator.modify_notebook(notebooks["2024"])
    assert sharded.run("2026-11-03").state == DagRunState.SUCCESS
    assert "archive/2023" in tags(url(sharded, "2023")) and "archive/other" in tags(url(sharded, "other"))
    assert not any(t.startswith("archive/") for t in tags(url(sharded, "2024")))

    cache = sharded.workdir / "mirrors"
    shutil.rmtree(cache)  # a pod that starts with an empty disk
    sharded.emulator.modify_notebook(notebooks["2024"])
    run = sharded.run("2026-11-04")
    assert run.state == DagRunState.SUCCESS
    assert not mirror_dir(cache, url(sharded, "2023")).exists(), "a closed year was fetched"
    assert mirror_dir(cache, url(sharded, "2024")).exists()
    assert "backup/2026-11-04" in tags(url(sharded, "2024"))
    assert "backup/2026-11-04" not in tags(url(sharded, "2023"))
    states = {r["shard"]: r["state"] for r in Backup.summary(run)["repositories"]}
    assert states == {"2023": "archived", "2024": "active", "2025": "archived", "other": "archived"}

    sharded.emulator.modify_notebook(notebooks["2023"])
    assert sharded.run("2026-11-05").state == DagRunState.SUCCESS
    assert "backup/2026-11-05" in tags(url(sharded, "2023"))
    assert files(url(sharded, "2023"), tmp_path / "2023") == by_shard(sharded.expected())["2023"]


def test_switching_keeps_the_single_repository_as_the_history_and_restores_from_both(
    backup, monkeypatch, tmp_path
):
    notebook = next(
        o["path"]
        for o in backup.emulator.objects()
        if o["object_type"] == "NOTEBOOK" and "/2024/" in o["path"]
    )
    assert backup.run("2026-11-02").state == DagRunState.SUCCESS
    before = backed_up(backup.emulator)
    for shard in ("2023", "2024", "2025"):
        backup.server.create_repo(f"proj/_git/notebooks-{shard}")
    shard_git(monkeypatch, backup, url(backup, "{year}"), unsharded_url=backup.remote)

    backup.emulator.modify_notebook(notebook)
    run = backup.run("2026-11-03")
    assert run.state == DagRunState.SUCCESS
    record = json.loads(backup.git("show", f"main:{SWITCH_PATH}"))
    assert record["day"] == "2026-11-03" and record["tag"] == "sharded/2026-11-03"
    assert "sharded/2026-11-03" in tags(backup.remote)
    assert "backup/2026-11-03" not in tags(backup.remote)
    expected = by_shard(backup.expected())
    for shard in ("2023", "2024", "2025"):
        assert files(url(backup, shard), tmp_path / shard) == expected[shard], shard
        first = subprocess.run(
            ["git", "-C", str(tmp_path / shard), "log", "--reverse", "--format=%B"],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        assert backup.remote in first and "sharded/2026-11-03" in first
    refs = refs_of(backup.remote)
    backup.emulator.modify_notebook(notebook)
    assert backup.run("2026-11-04").state == DagRunState.SUCCESS
    assert refs_of(backup.remote) == refs, "the single repository was pushed to after the switch"

    # From before the switch: the single repository; after it: the year's repository.
    engagement = "/".join(notebook.split("/")[2:4])
    for ref, target in (("backup/2026-11-02", "/Before"), ("backup/2026-11-04", "/After")):
        run, result = trigger("databricks_git_restore", "restore", "result", ref=ref, paths=[engagement],
                              target_root=target)  # fmt: skip
        assert run.state == DagRunState.SUCCESS, result
    prefix = f"/Clients/{engagement}/"
    old = {p: o for p, o in before.items() if p.startswith(prefix)}
    now = {p: o for p, o in backed_up(backup.emulator).items() if p.startswith(prefix)}
    assert old[notebook] != now[notebook]
    assert backed_up(backup.emulator, "/Before") == {
        "/Before" + p.removeprefix("/Clients"): o for p, o in old.items()
    }
    assert backed_up(backup.emulator, "/After") == {
        "/After" + p.removeprefix("/Clients"): o for p, o in now.items()
    }
