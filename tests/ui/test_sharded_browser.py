"""The history browser with a repository per year (issue 28, ADR 0007), on real repositories read
through the API server's blobless mirrors, without Airflow's server: a search reads every repository
the tags name, a path is read in its year's repository, a notebook's versions go on in the single
repository of before the switch, and no request chooses a repository outside the deployment."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
from starlette.exceptions import HTTPException

from airflow_gitsync.hooks.azure_devops_git import AzureDevOpsGitHook
from airflow_gitsync.ui import app
from tests.ui.backup_repo import BackupRepo
from tests.ui.test_browse_pages import _well_formed

DAG = "databricks_git_backup"
OLD_ETL = "2019/ENG-1/NOTEBOOKS/etl.py"
NEW_ETL = "2020/ENG-2/NOTEBOOKS/etl.py"
GONE = "2020/ENG-2/NOTEBOOKS/gone etl.sql"
NOTES = "Archive/<b>notes</b> etl.py"
REGISTRY = "Repositories: 2019 2020 other"


def _tag(repo: BackupRepo, day: str, registry: str = REGISTRY) -> None:
    """Tag the newest backup as a sharded run does: its message names the run's repositories."""
    repo.git("tag", "-f", "-a", f"backup/{day}", "-m", f"Backup {day}\n\n{registry}\n", day=day)


@pytest.fixture
def deployment(tmp_path: Path, monkeypatch) -> SimpleNamespace:
    """Repositories of 2019, 2020 and ``other`` (years that this or last year's guess does not find:
    only the tags' registry names them) and the single repository of before the switch."""
    shards = {shard: BackupRepo(tmp_path / f"nb-{shard}") for shard in ("2019", "2020", "other")}
    single = BackupRepo(tmp_path / "single")
    single.backup("2026-01-01", {NEW_ETL: b"# before 1\n", OLD_ETL: b"# old\n"})
    single.backup("2026-01-02", {NEW_ETL: b"# before 2\n"})
    single.backup("2026-01-03", {NEW_ETL: b"# before 3\n"}, tag=False)
    shards["2019"].backup("2026-01-04", {OLD_ETL: b"# old\n"})
    shards["2020"].backup("2026-01-04", {NEW_ETL: b"# before 3\n", GONE: b"select 1\n"})
    shards["other"].backup("2026-01-04", {NOTES: b"1\n"})
    for repo in shards.values():  # the newest tag of each repository names every one
        _tag(repo, "2026-01-04")
    shards["2020"].backup("2026-01-05", {NEW_ETL: b"# after 1\n", GONE: None})
    _tag(shards["2020"], "2026-01-05")
    connection = {
        "conn_type": "azure_devops_git",
        "host": f"file://{tmp_path}/nb-{{year}}",
        "extra": {"unsharded_url": f"file://{tmp_path}/single"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_AZURE_DEVOPS_GIT_DEFAULT", json.dumps(connection))
    monkeypatch.setenv("AIRFLOW__GITSYNC__BROWSER_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(app, "_is_backup", lambda session, dag_id: True)
    monkeypatch.setattr(app, "backup_runs", lambda session, dag_id, limit: [])
    monkeypatch.setattr(app, "_repositories", {})
    monkeypatch.setattr(app, "_missing", {})
    mirrored: list[str] = []
    get_mirror = AzureDevOpsGitHook.get_mirror

    def recording(hook, cache_dir, url=None):
        mirrored.append(url or hook.repository_url())
        return get_mirror(hook, cache_dir, url)

    monkeypatch.setattr(AzureDevOpsGitHook, "get_mirror", recording)
    return SimpleNamespace(shards=shards, single=single, root=tmp_path, mirrored=mirrored)


def _find(q: str, offset: int = 0, limit: int = 50) -> str:
    return app.find(DAG, None, q=q, offset=offset, limit=limit, part=True)


def _found(html: str) -> list[str]:
    return re.findall(r'href="notebook\?path=([^"]+)"', html)


def _notebook(path: str, repo: str = app.SHARD, offset: int = 0, limit: int = 25) -> str:
    return app.notebook(DAG, None, path=path, offset=offset, limit=limit, repo=repo)


def test_find_searches_every_repository_the_tags_name_and_pages_across_them(deployment):
    everything = _find("etl")
    _well_formed(everything)
    assert _found(everything) == [
        "2019%2FENG-1%2FNOTEBOOKS%2Fetl.py",
        "2020%2FENG-2%2FNOTEBOOKS%2Fetl.py",
        "2020%2FENG-2%2FNOTEBOOKS%2Fgone+etl.sql",  # deleted in 2020's repository since
        "Archive%2F%3Cb%3Enotes%3C%2Fb%3E+etl.py",
    ]
    assert "1-4 of 4." in everything and "deleted" in everything and "&lt;b&gt;notes" in everything
    pages = [_find("etl", offset=n, limit=1) for n in range(4)]
    assert [_found(p) for p in pages] == [[f] for f in _found(everything)]
    assert "2-2 of 4." in pages[1] and "offset=2" in pages[1] and "offset=0" in pages[1]
    assert _found(_find("etl", offset=1, limit=2)) == _found(everything)[1:3]
    assert "Nothing matches" in _find("nothing") and "Nothing matches" in _find("etl", offset=10)
    assert "Not searched" not in everything  # this and last year's repositories do not exist: no error
    assert all("{year}" not in url and "single" not in url for url in deployment.mirrored)


def test_a_search_says_when_deleted_paths_are_still_being_read_in_any_repository(deployment, monkeypatch):
    monkeypatch.setattr(app, "FIND_WAIT", 0)
    _find("etl")  # the repositories are opened
    browser = next(r for r in app._repositories.values() if r.mirror.remote_url.endswith("nb-2020"))
    browser._gone = None
    with browser._deletions_lock:  # 2020's deleted paths are being read again
        pending = _find("etl")
    assert "still being read" in pending and "gone+etl" not in pending
    assert "1-3 of 3." in pending


def test_a_notebook_s_versions_are_its_years_then_those_from_before_the_switch(deployment):
    page = _notebook(NEW_ETL)
    _well_formed(page)
    shard = deployment.shards["2020"]
    (since,) = re.findall(r'<table id="versions".*?</table>', page, re.S)
    (before,) = re.findall(r'<table id="before".*?</table>', page, re.S)
    commits = shard.git("rev-list", "backup/daily").split()
    assert re.findall(r'data-commit="(\w+)"', since) == commits
    assert (
        re.findall(r'data-commit="(\w+)"', before)
        == deployment.single.git("rev-list", "backup/daily").split()
    )
    assert 'name="repo" value="shard"' in since and "repo=shard" in since
    assert 'name="ref" value="backup/2026-01-02"' in before and 'name="repo" value="before"' in before
    assert before.count("Restore this version") == 2  # an untagged commit of before: the DAG reads tags
    assert "Before the switch" in page

    older = _notebook(NEW_ETL, repo=app.BEFORE, offset=1, limit=1)
    assert re.findall(r'data-commit="(\w+)"', older) == [
        deployment.single.git("rev-parse", "backup/2026-01-02^{}")
    ]
    assert "repo=before" in older and "offset=0" in older and "offset=2" in older

    only_before = _notebook(OLD_ETL)  # 2019's repository and the single one both hold it
    assert only_before.count("data-commit") == 2
    assert "No backup holds this path." in _notebook("2020/ENG-2/NOTEBOOKS/never.py")


def test_a_diff_and_a_restore_read_the_repository_the_version_is_from(deployment, monkeypatch):
    shard, single = deployment.shards["2020"], deployment.single
    html = app.diff(
        DAG, None, path=NEW_ETL, a="backup/2026-01-04", b="backup/2026-01-05", view="unified", repo="shard"
    )
    assert "after 1" in html and "repo=shard" in html
    html = app.diff(
        DAG, None, path=NEW_ETL, a="backup/2026-01-01", b="backup/2026-01-02", view="split", repo="before"
    )
    assert "before 2" in html and "repo=before" in html
    with pytest.raises(HTTPException) as refused:  # the shard has no such tag
        app.diff(
            DAG, None, path=NEW_ETL, a="backup/2026-01-01", b="backup/2026-01-02", view="split", repo="shard"
        )
    assert refused.value.status_code == 404

    triggered = []
    monkeypatch.setattr(app, "requires_access_dag", lambda **kwargs: lambda request, user: None)
    monkeypatch.setattr(
        app,
        "trigger_dag",
        lambda dag_id, **kw: triggered.append(kw["conf"]) or SimpleNamespace(run_id="manual__1"),
    )
    user = SimpleNamespace(get_name=lambda: "admin")

    def restore(ref: str, repo: str) -> str:
        return app.restore(DAG, None, user, None, path=NEW_ETL, ref=ref, target_root="/R", repo=repo)

    assert "manual__1" in restore("backup/2026-01-02", "before")
    assert "manual__1" in restore(shard.git("rev-parse", "HEAD"), "shard")
    for ref, repo in (
        (single.git("rev-parse", "HEAD"), "before"),  # a commit of before: the restore DAG reads tags
        ("backup/2026-01-02", "shard"),
        ("backup/2026-01-05", "before"),
    ):
        with pytest.raises(HTTPException) as refused:
            restore(ref, repo)
        assert refused.value.status_code == 404, (ref, repo)
    assert [c["ref"] for c in triggered] == ["backup/2026-01-02", shard.git("rev-parse", "HEAD")]


@pytest.mark.parametrize(
    "path",
    [
        "../../single/2020/x.py",
        "file:///etc/x.py",
        "{year}/x.py",
        "nb-2019/x.py",
        "https://evil.example/repo.git/2020/x.py",
        "/2020/x.py",
        "20201/x.py",
        "\uff12\uff10\uff12\uff10/x.py",  # fullwidth digits are no year
    ],
)
def test_a_hostile_path_reads_other_s_repository_and_nothing_outside_the_deployment(deployment, path):
    try:
        assert "No backup holds this path." in _notebook(path)
    except HTTPException as exc:  # git's own refusal of a path outside a repository, as with one
        assert exc.status_code == 503 and "outside repository" in exc.detail
    assert set(deployment.mirrored) <= {
        f"file://{deployment.root}/nb-other",
        f"file://{deployment.root}/single",
    }


def test_a_year_without_a_repository_is_a_readable_error_and_makes_no_mirror(deployment):
    for _ in range(2):
        with pytest.raises(HTTPException) as error:
            _notebook("1999/ENG/NOTEBOOKS/x.py")
        assert error.value.status_code == 503 and "cannot be fetched" in error.value.detail
    assert deployment.mirrored == [] and not (deployment.root / "cache").exists()


def test_the_shards_searched_are_bounded_whatever_the_tags_name(deployment, monkeypatch):
    monkeypatch.setattr(app, "MAX_SHARDS", 4)
    registry = "Repositories: " + " ".join(str(year) for year in range(1000, 2000)) + " other"
    _tag(deployment.shards["other"], "2026-01-04", registry)
    page = _find("etl")
    shards = {url.rpartition("nb-")[2] for url in deployment.mirrored}
    assert len(shards) <= 4 and "Not searched" in page  # the named years have no repository


def test_a_connection_with_one_repository_refuses_before(deployment, monkeypatch):
    connection = {"conn_type": "azure_devops_git", "host": f"file://{deployment.root}/single"}
    monkeypatch.setenv("AIRFLOW_CONN_AZURE_DEVOPS_GIT_DEFAULT", json.dumps(connection))
    page = _notebook(NEW_ETL)
    assert page.count("data-commit") == 3 and "repo=" not in page and "Before the switch" not in page
    assert _found(_find("etl")) == ["2019%2FENG-1%2FNOTEBOOKS%2Fetl.py", "2020%2FENG-2%2FNOTEBOOKS%2Fetl.py"]
    with pytest.raises(HTTPException) as refused:
        _notebook(NEW_ETL, repo=app.BEFORE)
    assert refused.value.status_code == 404
