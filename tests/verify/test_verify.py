"""Verify's comparison against the emulator, its sample, and its summary."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from airflow_gitsync.blob import git_blob_id
from airflow_gitsync.diff import ItemFailure
from airflow_gitsync.layout import to_repo_path
from airflow_gitsync.manifest import MANIFEST_PATH, ManifestEntry
from airflow_gitsync.restore import backup_root
from airflow_gitsync.results import CheckTaskResult, TaskMetrics, from_xcom, to_xcom
from airflow_gitsync.verify import (
    PROBLEMS_LISTED,
    Drift,
    Sample,
    VerifyPlan,
    YearCheck,
    YearToVerify,
    backup_problems,
    verify_year,
    years_to_verify,
)
from airflow_gitsync.verify_report import render_markdown, summarize
from airflow_gitsync.workspace.client import WorkspaceClient

ROOT = "/Clients"
ENG = f"{ROOT}/2024/ENG-1/NOTEBOOKS"
NB = b"# Databricks notebook source\nprint(1)\n"
FAST = {"export": 2000, "list": 2000, "other": 2000}


@pytest.fixture
def workspace(emulator_factory):
    emu = emulator_factory(generate=0)
    for name in ("a", "b", "c", "d"):
        emu.put_notebook(f"{ENG}/{name}", NB + name.encode())
    emu.put_file(f"{ENG}/data.csv", b"x,y\n")
    return emu


def manifest_of(emu, root: str = ROOT) -> dict[str, ManifestEntry]:
    snapshot = emu.snapshot(root)
    entries = {}
    for obj in emu.objects():
        if obj["path"] in snapshot:
            path = to_repo_path(root, obj["path"], obj["object_type"], obj.get("language"))
            entries[path] = ManifestEntry(
                path, obj["path"], obj["object_id"], obj["object_type"], obj.get("language"),
                obj.get("modified_at"), git_blob_id(snapshot[obj["path"]]),
            )  # fmt: skip
    return entries


def check(emu, manifest, *, root: str = ROOT, share: float = 1.0, year: str = "2024") -> YearCheck:
    plan = VerifyPlan("backup/x", "c0ffee", ROOT, root, "full", Sample(share, 1), [YearToVerify(year, year)])
    with WorkspaceClient(emu.url, lambda: "dapi-test", rates=FAST, max_workers=4) as client:
        result = verify_year(client, plan, plan.years[0], manifest)
    return from_xcom(YearCheck, json.loads(json.dumps(to_xcom(result))))


def ran(*checks: YearCheck) -> list[CheckTaskResult]:
    """The check tasks' results for ``checks``: each made 2 exports in 1.5 s."""
    return [CheckTaskResult(c, {"export": {"requests": 2}}, TaskMetrics(1.5, 1 << 20)) for c in checks]


def kinds(result: YearCheck) -> list[tuple[str, str]]:
    return [(d.kind, d.path) for d in result.drift]


def test_an_unchanged_workspace_has_no_drift(workspace):
    result = check(workspace, manifest_of(workspace))
    assert (result.listed, result.checked, result.drift, result.failed) == (5, 5, [], [])


def test_listing_drift_and_content_drift_behind_an_unchanged_modified_at(workspace):
    manifest = manifest_of(workspace)
    workspace.modify_notebook(f"{ENG}/a", touch=False)  # the finding that matters
    workspace.modify_notebook(f"{ENG}/b")  # explained: modified_at moved
    workspace.delete(f"{ENG}/c")
    workspace.put_notebook(f"{ENG}/e", NB)
    workspace.set_modified_at(f"{ENG}/d", None)
    result = check(workspace, manifest)
    assert kinds(result) == [
        ("content", "2024/ENG-1/NOTEBOOKS/a.py"),
        ("modified", "2024/ENG-1/NOTEBOOKS/b.py"),
        ("deleted", "2024/ENG-1/NOTEBOOKS/c.py"),
        ("unknown-mtime", "2024/ENG-1/NOTEBOOKS/d.py"),
        ("added", "2024/ENG-1/NOTEBOOKS/e.py"),
    ]
    assert "modified_at" in result.drift[0].detail and manifest["2024/ENG-1/NOTEBOOKS/a.py"].blob_id in (
        result.drift[0].detail
    )
    assert result.checked == 4  # a, b, d, data.csv


def test_a_copy_is_compared_by_presence_and_content_only(workspace):
    manifest = manifest_of(workspace)
    for path, content in workspace.snapshot(ROOT).items():
        copy = path.replace(ROOT, "/Restored/x")
        if path.endswith(".csv"):
            workspace.put_file(copy, content)
        else:
            workspace.put_notebook(copy, content)
    assert check(workspace, manifest, root="/Restored/x").drift == []
    workspace.modify_notebook("/Restored/x/2024/ENG-1/NOTEBOOKS/b")  # timestamps do not excuse a copy
    assert kinds(check(workspace, manifest, root="/Restored/x")) == [("content", "2024/ENG-1/NOTEBOOKS/b.py")]


def test_failed_exports_and_listings_are_not_verified(workspace):
    manifest = manifest_of(workspace)
    workspace.inject_failure(f"{ENG}/a", endpoints=("export",), status=400, error_code="BAD")
    result = check(workspace, manifest)
    assert [f.path for f in result.failed] == [f"{ENG}/a"] and result.checked == 4
    workspace.clear_failures()
    workspace.inject_failure(ENG, endpoints=("list",), status=400, error_code="BAD")
    result = check(workspace, manifest)
    assert result.drift == [] and result.checked == 0 and result.failed[0].reason.startswith("listing failed")


def test_an_object_over_the_export_limit_is_named_as_what_no_backup_heals(workspace):
    """Issue 26: the summary said "the next backup run takes care of all of it" for such notebooks."""
    manifest = manifest_of(workspace)
    workspace.put_notebook(f"{ENG}/big", NB)
    workspace.modify_notebook(f"{ENG}/b")
    workspace.delete(f"{ENG}/c")
    for path in (f"{ENG}/big", f"{ENG}/b"):
        workspace.inject_failure(
            path, endpoints=("export",), status=400, error_code="MAX_NOTEBOOK_SIZE_EXCEEDED"
        )
    result = check(workspace, manifest)
    assert (
        kinds(result)
        == [
            ("too-large", "2024/ENG-1/NOTEBOOKS/b.py"),  # not "the next backup exports it again"
            ("too-large", "2024/ENG-1/NOTEBOOKS/big.py"),  # not "the next backup adds it"
            ("deleted", "2024/ENG-1/NOTEBOOKS/c.py"),
        ]
        and result.failed == []
    )
    plan = VerifyPlan(
        "backup/x", "c0ffee" * 7, ROOT, ROOT, "full", Sample(1.0, 0), [YearToVerify("2024", "2024")]
    )
    summary = summarize(plan, ran(result))
    page = render_markdown(summary, "Verify")
    assert "NOT BACKED UP: 2 object(s) over Databricks' 10 MB export limit" in page
    assert "the next backup heals the other 1 difference(s)" in page and "all of it" not in page
    assert summary.failed and "10 MB export limit" in summary.failure()
    healable = summarize(plan, ran(YearCheck("2024", drift=[d for d in result.drift if d.kind == "deleted"])))
    assert "the next backup run heals all of it (1 difference(s))" in render_markdown(healable, "V")
    assert not healable.failed


def test_the_sample_is_seeded_and_independent_of_how_objects_are_split():
    paths = [f"2024/ENG-{i}/NOTEBOOKS/n{i}.py" for i in range(4000)]
    sample = Sample(0.05, 42)
    picked = [p for p in paths if p in sample]
    assert 150 < len(picked) < 250
    assert picked == [p for p in reversed(paths) if p in Sample(0.05, 42)][::-1]
    assert picked != [p for p in paths if p in Sample(0.05, 43)]
    assert all(p in Sample(1.0, 0) for p in paths)


def test_years_and_root_come_from_the_workspace_and_the_manifest(workspace):
    manifest = manifest_of(workspace)
    assert backup_root(manifest.values()) == ROOT and backup_root([]) is None
    gone = ManifestEntry(
        "2019/E/NOTEBOOKS/x.py", f"{ROOT}/2019/E/NOTEBOOKS/x", 1, "NOTEBOOK", "PYTHON", 1, "0" * 40
    )
    assert years_to_verify(["2024", "a:b"], [*manifest.values(), gone]) == [
        YearToVerify("2019", "2019"),
        YearToVerify("2024", "2024"),
        YearToVerify("a:b", "a%3Ab"),
    ]


def test_the_summary_fails_on_content_drift_and_on_a_year_that_did_not_finish():
    plan = VerifyPlan(
        "backup/x", "c0ffee" * 7, ROOT, ROOT, "sample", Sample(0.03, 9),
        [YearToVerify("2024", "2024"), YearToVerify("2025", "2025")],
    )  # fmt: skip
    listed = YearCheck("2024", listed=10, checked=1, drift=[Drift("2024/E/NOTEBOOKS/n.py", "added")])
    summary = summarize(plan, ran(listed))
    assert (
        summary.failed
        and not summary.complete
        and summary.failures == [("2025", "its check task did not finish")]
    )
    page = render_markdown(summary, "Verify")
    assert "INCOMPLETE" in page and '{"seed": 9}' in page and "the next backup adds it" in page
    done = YearCheck("2025", listed=3, checked=3, drift=[Drift("2025/E/NOTEBOOKS/m.py", "content", "blob")])
    summary = summarize(plan, ran(listed, done))
    assert summary.failed and summary.complete and "CONTENT DRIFT: 1 object" in render_markdown(summary, "V")
    totals = summary.to_dict()
    assert totals["per_engagement"] == {"2024/E": {"added": 1}, "2025/E": {"content": 1}}
    assert totals["api"] == {"export": {"requests": 4}} and totals["seconds"] == 3.0
    assert not summarize(plan, ran(listed, YearCheck("2025"))).failed
    assert summarize(None, [], "SettingsError: ref").failures == [
        ("(prepare)", "the prepare task failed: SettingsError: ref")
    ]


def tree_of(manifest: dict[str, ManifestEntry]) -> dict[str, tuple[str, str]]:
    """``git ls-tree -r`` of the backup commit of ``manifest``, the backup's own files included."""
    own = {
        MANIFEST_PATH: "1" * 40,
        ".gitsync/notes": "2" * 40,
        "README.md": "3" * 40,
        ".gitattributes": "4" * 40,
    }
    return {p: ("100644", e.blob_id) for p, e in manifest.items()} | {
        p: ("100644", b) for p, b in own.items()
    }


def test_the_backup_commit_is_checked_against_its_manifest_without_reading_a_blob(workspace):
    manifest = manifest_of(workspace)
    tree = tree_of(manifest)
    assert backup_problems(manifest, tree) == ([], 0)

    a, b, c, d = (f"2024/ENG-1/NOTEBOOKS/{name}.py" for name in "abcd")
    del tree[a]  # deleted, its line kept
    tree[b] = ("100644", git_blob_id(b"other bytes"))
    tree[c] = ("120000", manifest[c].blob_id)  # a symlink
    tree["2024/ENG-1/NOTEBOOKS/stray.py"] = tree["docs/NOTES.md"] = ("100644", git_blob_id(b"x"))
    manifest[d] = replace(manifest[d], workspace_path="/Users/admin@corp.com/d")  # restore refuses it
    problems, count = backup_problems(manifest, tree)
    assert count == 6 and [(p.path, p.reason) for p in problems] == [
        (a, "in the manifest but not in the backup's tree"),
        (b, f"blob {git_blob_id(b'other bytes')} in the tree, {manifest[b].blob_id} in the manifest"),
        (c, "mode 120000 in the tree, not a plain file"),
        (d, "refused, workspace path /Users/admin@corp.com/d: not under /Clients"),
        ("2024/ENG-1/NOTEBOOKS/stray.py", "in the tree, not in the manifest"),
        ("docs/NOTES.md", "in the tree, not in the manifest"),
    ]


def test_a_hostile_tree_is_named_in_bounded_lines_and_fails_the_run():
    tree = {f"{i:05}`![x](http://evil)\n" + "x" * 5000: ("100644", "5" * 40) for i in range(3000)}
    problems, count = backup_problems({}, tree)
    assert (len(problems), count) == (PROBLEMS_LISTED, 3000)
    plan = VerifyPlan("backup/x", "c0ffee" * 7, ROOT, ROOT, "full", Sample(1.0, 1), [], problems, count)
    summary = summarize(from_xcom(VerifyPlan, json.loads(json.dumps(to_xcom(plan)))), [])
    assert summary.failed and summary.to_dict()["backup_problem_count"] == 3000
    page = render_markdown(summary, "Verify")
    assert "BACKUP BROKEN" in page and f"and {3000 - PROBLEMS_LISTED} more" in page and len(page) < 20_000
    named = [line for line in page.splitlines() if "evil" in line]
    assert len(named) == PROBLEMS_LISTED and all(r"\`\!\[x\]\(http" in line for line in named)  # text
    assert "\n" not in summary.failure() and len(summary.failure()) < 1000


def test_names_and_reasons_enter_the_page_as_text():
    evil = "![x](http://evil/t.png)<img src=x>"
    plan = VerifyPlan("backup/x", "c0ffee" * 7, ROOT, f"/Restored/{evil}", "full", Sample(1.0, 1), [])
    drift = [Drift(f"2024/{evil}/NOTEBOOKS/n.py", kind, f"/Restored/{evil}") for kind in ("content", "added")]
    check = YearCheck(
        "2024", drift=drift, failed=[ItemFailure(f"/Restored/{evil}", f"listing failed: {evil}")]
    )
    page = render_markdown(summarize(plan, ran(check)), f"Verify {evil}")
    assert r"\!\[x\]\(http" in page and "](http" not in page and "<img" not in page.replace(r"\<img", "")
