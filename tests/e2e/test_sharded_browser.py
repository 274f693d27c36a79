"""The Backups view's history browser on a real backup with a repository per year (issue 28, ADR
0007): backups written by ``dag.test()`` to the devkit's git server, read by the view's own routes
(without Airflow's API server: its auth is tested in test_backups_view.py). A search finds notebooks
of every year's repository, a notebook's versions are its year's, and after the switch of an existing
deployment those of the single repository of before it follow."""

from __future__ import annotations

import re
from urllib.parse import unquote_plus

import pytest
from airflow.sdk import DagRunState

from airflow_gitsync.layout import to_repo_path
from airflow_gitsync.shards import shard_of
from airflow_gitsync.ui import app
from tests.e2e.conftest import ROOT, Backup
from tests.e2e.test_sharded import shard_git, sharded, url  # noqa: F401

DAG = "databricks_git_backup"


@pytest.fixture
def view(monkeypatch, tmp_path):
    """The view's routes with a cache of their own, for a DAG taken to be a backup with default conf."""
    monkeypatch.setenv("AIRFLOW__GITSYNC__BROWSER_CACHE_DIR", str(tmp_path / "browser"))
    monkeypatch.setattr(app, "_is_backup", lambda session, dag_id: True)
    monkeypatch.setattr(app, "backup_runs", lambda session, dag_id, limit: [])
    monkeypatch.setattr(app, "_repositories", {})
    monkeypatch.setattr(app, "_missing", {})
    return app


def _notebook_in(backup: Backup, year: str) -> tuple[str, str]:
    """A notebook's workspace and repo path in the year folder ``year``."""
    found = next(
        o
        for o in backup.emulator.objects()
        if o["object_type"] == "NOTEBOOK" and o["path"].startswith(f"{ROOT}/{year}/")
    )
    return found["path"], to_repo_path(ROOT, found["path"], found["object_type"], found.get("language"))


def _found(html: str) -> list[str]:
    return [unquote_plus(p) for p in re.findall(r'href="notebook\?path=([^"&]+)"', html)]


def test_find_and_versions_read_every_years_repository(sharded, view):  # noqa: F811
    assert sharded.run("2026-11-02").state == DagRunState.SUCCESS
    workspace_path, repo_path = _notebook_in(sharded, "2024")
    sharded.emulator.modify_notebook(workspace_path)
    assert sharded.run("2026-11-03").state == DagRunState.SUCCESS

    page = view.find(DAG, None, q="NOTEBOOKS", offset=0, limit=200, part=True)
    found = _found(page)
    assert {path.split("/")[0] for path in found} >= {"2023", "2024", "2025"}, page[:2000]
    assert "Not searched" not in page and "_git" not in page
    shards = [shard_of(path.split("/")[0]) for path in found]
    assert shards == sorted(shards)  # repository by repository: the years, then ``other``
    assert _found(view.find(DAG, None, q="old-notes", offset=0, limit=50, part=True)) == [
        "Archive/old-notes.py"
    ]  # ``other``'s repository

    versions = view.notebook(DAG, None, path=repo_path, offset=0, limit=25, repo=view.SHARD)
    assert re.findall(r"\((backup/[\d-]+)\)</span></td><td class=\"l\">", versions) == [
        "backup/2026-11-03",
        "backup/2026-11-02",
    ]
    assert "Before the switch" not in versions


def test_versions_go_on_in_the_single_repository_of_before_the_switch(backup, view, monkeypatch):
    workspace_path, repo_path = _notebook_in(backup, "2024")
    assert backup.run("2026-11-02").state == DagRunState.SUCCESS
    for shard in ("2023", "2024", "2025"):
        backup.server.create_repo(f"proj/_git/notebooks-{shard}")
    shard_git(monkeypatch, backup, url(backup, "{year}"), unsharded_url=backup.remote)
    backup.emulator.modify_notebook(workspace_path)
    assert backup.run("2026-11-03").state == DagRunState.SUCCESS

    page = view.notebook(DAG, None, path=repo_path, offset=0, limit=25, repo=view.SHARD)
    since, before = page.split("Before the switch to a repository per year")
    assert "backup/2026-11-03" in since and "backup/2026-11-02" not in since
    assert "backup/2026-11-02" in before and 'name="repo" value="before"' in before
    alone = view.notebook(DAG, None, path=repo_path, offset=0, limit=25, repo=view.BEFORE)
    assert "backup/2026-11-02" in alone and "backup/2026-11-03" not in alone
    found = _found(view.find(DAG, None, q=repo_path.rpartition("/")[2], offset=0, limit=50, part=True))
    assert repo_path in found
