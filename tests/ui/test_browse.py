"""The history browser's read model on a real repository, read through a blobless mirror."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_gitsync.ui.browse import MAX_FRAGMENT, BackupRepository, NotBackedUp
from tests.ui.backup_repo import BRANCH, BackupRepo

ETL = "2024/ENG-101/NOTEBOOKS/etl.py"
OLD = "2024/ENG-101/NOTEBOOKS/Old Report.sql"
ODD = "2025/ENG-7/NOTEBOOKS/<b>x</b>.py"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def repo(tmp_path: Path) -> BackupRepo:
    repo = BackupRepo(tmp_path / "remote")
    repo.backup("2026-01-01", {ETL: b"# v1\n", OLD: b"select 1\n", ODD: b"1\n"})
    repo.backup("2026-01-02", {ETL: b"# v2\nprint(2)\n"})
    repo.backup("2026-01-03", {OLD: None}, tag=False)  # a partial run: committed, not tagged
    repo.backup("2026-01-04", {ETL: b"# v3\nprint(3)\n"})
    return repo


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def browser(repo: BackupRepo, tmp_path: Path, clock: Clock) -> BackupRepository:
    return BackupRepository(repo.mirror(tmp_path / "view.git"), BRANCH, "backup/%Y-%m-%d", 300, clock)


def test_find_matches_any_case_and_lists_deleted_paths_with_the_last_backup_holding_them(browser):
    found = browser.find("eng-101")
    assert found.total == 2
    live, gone = found.items
    assert (live.repo_path, live.workspace_path, live.deleted) == (
        ETL,
        "/Clients/2024/ENG-101/NOTEBOOKS/etl",
        None,
    )
    assert gone.repo_path == OLD and gone.deleted and gone.workspace_path is None
    assert (gone.last.tag, gone.last.day) == ("backup/2026-01-02", "2026-01-02")
    assert [f.repo_path for f in browser.find("<B>").items] == [ODD]
    assert browser.find("").total == 0 and browser.find("nothing").total == 0


def test_find_pages_through_live_then_deleted_results(browser):
    first, second = browser.find("2024", limit=1), browser.find("2024", offset=1, limit=1)
    assert first.total == second.total == 2
    assert [f.repo_path for f in first.items + second.items] == [ETL, OLD]
    assert browser.find("x" * (MAX_FRAGMENT + 50)).total == 0


def test_a_path_s_history_is_its_changes_with_sizes_and_the_backup_that_brought_each(browser, repo):
    page = browser.history(ETL)
    assert [v.size for v in page.versions] == [len(b"# v3\nprint(3)\n"), len(b"# v2\nprint(2)\n"), 5]
    assert [v.status for v in page.versions] == ["M", "M", "A"]
    assert [v.backup.tag for v in page.versions] == [
        "backup/2026-01-04",
        "backup/2026-01-02",
        "backup/2026-01-01",
    ]
    assert page.versions[0].subject == "Backup 2026-01-04" and page.versions[0].author == "airflow-gitsync"
    assert not page.more
    older = browser.history(ETL, offset=1, limit=1)
    assert [v.backup.day for v in older.versions] == ["2026-01-02"] and older.more

    deleted = browser.history(OLD).versions
    assert [(v.status, v.blob is None) for v in deleted] == [("D", True), ("A", False)]
    assert deleted[0].backup.tag == "backup/2026-01-04"  # the untagged commit came out in the next backup


def test_reads_fetch_only_the_blobs_they_need(browser, repo):
    browser.history(ODD)
    mirror = browser.mirror
    assert mirror.partial
    commit = browser.commit_of("backup/2026-01-02")
    assert browser.read(commit, ETL) == b"# v2\nprint(2)\n"
    assert browser.read(commit, "no/such.py") is None
    assert browser.commit_of("main") is None and browser.commit_of("backup/2030-01-01") is None
    listing = mirror.git.text("rev-list", "--objects", "--missing=print", "--all")
    missing = [line for line in listing.splitlines() if line.startswith("?")]
    assert missing  # the first version of etl.py was never read


def test_the_mirror_is_fetched_at_most_every_fetch_every_seconds(browser, repo, clock):
    assert browser.find("etl").total == 1
    repo.backup("2026-01-05", {"2026/ENG-9/NOTEBOOKS/etl2.py": b"2\n"})
    assert browser.find("etl").total == 1
    clock.now += 301
    assert browser.find("etl").total == 2


def test_deletions_are_extended_from_the_last_tip(browser, repo, clock):
    assert browser.find("etl").total == 1
    repo.backup("2026-01-05", {ETL: None})
    clock.now += 301
    found = browser.find("etl").items
    assert [(f.repo_path, f.last.tag) for f in found] == [(ETL, "backup/2026-01-04")]
    assert [f.repo_path for f in browser.find("report").items] == [OLD]


def test_a_repository_without_the_branch_says_so(tmp_path, clock):
    empty = BackupRepo(tmp_path / "empty")
    empty.git("commit", "-q", "--allow-empty", "-m", "init")
    empty.git("branch", "-m", "main")
    browser = BackupRepository(empty.mirror(tmp_path / "view.git"), BRANCH, "backup/%Y-%m-%d", 300, clock)
    with pytest.raises(NotBackedUp):
        browser.find("x")


def test_a_search_that_must_not_wait_answers_while_the_deleted_paths_are_read(browser):
    """The first reading of the deleted paths walks every backup (12 s at 70,000 x 400): a search
    with ``wait`` answers meanwhile with the newest backup's matches, and says so."""
    with browser._deletions_lock:  # the reading is under way
        pending = browser.find("2024", wait=0)
        assert pending.deleted_pending and [f.repo_path for f in pending.items] == [ETL]
        assert pending.total == 1
    done = browser.find("2024", wait=None)
    assert not done.deleted_pending and [f.repo_path for f in done.items] == [ETL, OLD]
    assert browser.find("report", wait=0).items[0].deleted  # read once, kept
