"""The history browser's pages from a real repository: well formed, every name escaped."""

from __future__ import annotations

from airflow_gitsync.ui import browse_pages, compare
from airflow_gitsync.ui.browse import BackupRepository
from tests.ui.backup_repo import BRANCH, BackupRepo
from tests.ui.test_pages import _Checker

HOSTILE = '2024/ENG-1/NOTEBOOKS/<img src=x onerror=alert(1)>".py'


def _well_formed(html: str, scripts: int = 0) -> None:
    checker = _Checker()
    checker.feed(html)
    assert checker.stack in (["html", "body"], []) and checker.scripts == scripts, checker.stack
    assert "<img" not in html


def test_find_history_diff_and_restore_pages_escape_every_name(tmp_path):
    repo = BackupRepo(tmp_path / "remote")
    repo.backup("2026-01-01", {HOSTILE: b"<b>1</b>\n"})
    repo.backup("2026-01-02", {HOSTILE: b"<b>2</b>\n"})
    browser = BackupRepository(repo.mirror(tmp_path / "view.git"), BRANCH, "backup/%Y-%m-%d", 300)
    found = browse_pages.find_page("dag", "<img", browser.find("<img"), 50)
    _well_formed(found, scripts=1)
    assert "1-1 of 1." in found and "notebook?path=2024%2FENG-1%2FNOTEBOOKS%2F%3Cimg" in found
    history = browser.history(HOSTILE)
    page = browse_pages.notebook_page("dag", HOSTILE, history, 25, "databricks_git_restore")
    _well_formed(page)
    assert page.count("Restore this version") == 2 and 'value="/Restored/2026-01-02"' in page
    assert 'name="ref" value="backup/2026-01-02"' in page
    old, new = (browser.read(v.commit, HOSTILE) for v in reversed(history.versions))
    for split in (True, False):
        diff = browse_pages.diff_page("dag", HOSTILE, "a", "b", compare.compare(old, new), split)
        _well_formed(diff)
        assert "&lt;b&gt;2&lt;/b&gt;" in diff
    started = browse_pages.restore_started_page(
        HOSTILE, "backup/2026-01-02", "/Restored/x", "r", "manual__1", "../"
    )
    _well_formed(started)
    assert 'href="../dags/r/runs/manual__1"' in started
