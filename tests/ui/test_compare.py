"""Diffs of versions read from a real repository, rendered as escaped, bounded HTML."""

from __future__ import annotations

from airflow_gitsync.ui import compare
from airflow_gitsync.ui.browse import BackupRepository
from tests.ui.backup_repo import BRANCH, BackupRepo

PATH = "2024/ENG-1/NOTEBOOKS/etl.py"


def test_two_versions_from_the_repository_diff_with_context_and_gaps(tmp_path):
    repo = BackupRepo(tmp_path / "remote")
    lines = [f"line {n}" for n in range(1, 21)]
    first = repo.backup("2026-01-01", {PATH: "\n".join(lines).encode()})
    lines[1], lines[17] = "<script>alert(1)</script>", "changed & done"
    second = repo.backup("2026-01-02", {PATH: "\n".join([*lines, "added"]).encode()})
    browser = BackupRepository(repo.mirror(tmp_path / "view.git"), BRANCH, "backup/%Y-%m-%d", 300)
    result = compare.compare(browser.read(first, PATH), browser.read(second, PATH))
    assert (result.added, result.removed, result.cut, result.too_large) == (3, 2, 0, None)
    kinds = [r.kind for r in result.rows]
    assert kinds.count("change") == 2 and kinds.count("add") == 1 and kinds.count("gap") == 1
    assert [r.old_no for r in result.rows[:3]] == [1, 2, 3]
    unified, split = compare.unified_html(result), compare.split_html(result)
    for html in (unified, split):
        assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert "changed &amp; done" in html
    assert '<tr class="del"><td>2</td><td></td><td>- line 2</td></tr>' in unified
    assert '<td>2</td><td class="add">&lt;script&gt;' in split


def test_an_added_or_deleted_version_compares_against_nothing():
    added = compare.compare(None, b"a\nb\n")
    assert (added.added, added.removed) == (2, 0) and [r.kind for r in added.rows] == ["add", "add"]
    assert compare.compare(b"a\n", None).removed == 1


def test_oversized_versions_and_long_diffs_are_bounded():
    big = b"x" * (compare.MAX_BYTES + 1)
    assert "over 1,048,576" in compare.compare(b"", big).too_large
    many = b"\n" * (compare.MAX_LINES + 1)
    assert f"{compare.MAX_LINES + 1:,} lines" in compare.compare(many, b"").too_large
    lines = "".join(f"{n}\n" for n in range(compare.MAX_LINES)).encode()
    long = compare.compare(lines, lines.replace(b"0\n", b"o\n"))  # every tenth line changes
    assert len(long.rows) == compare.MAX_ROWS and long.cut > 0
