"""The restore DAG end to end: back up the emulated workspace, then restore the tag with ``dag.test()``."""

from __future__ import annotations

from airflow.sdk import DagRunState

from tests.e2e.conftest import EXPORT_LIMIT, ROOT, trigger

TAG = "backup/2026-11-02"


def restore(**conf):
    """Run ``databricks_git_restore`` with ``conf``; return the run and its ``result`` XCom."""
    return trigger("databricks_git_restore", "restore", "result", **conf)


def backed_up(emulator, root: str = ROOT) -> dict[str, tuple[str, str | None, bytes]]:
    """``{path: (object type, language, SOURCE bytes)}`` of every exportable object under ``root``."""
    snapshot = emulator.snapshot(root)
    return {
        o["path"]: (o["object_type"], o.get("language"), snapshot[o["path"]])
        for o in emulator.objects()
        if o["path"] in snapshot and len(snapshot[o["path"]]) <= EXPORT_LIMIT
    }


def test_restore_the_tag_into_a_new_root(backup):
    original = backed_up(backup.emulator)
    assert backup.run("2026-11-02").state == DagRunState.SUCCESS

    run, result = restore(ref=TAG, target_root="/Restored/2026-11-02", dry_run=True)
    assert run.state == DagRunState.SUCCESS
    assert (result["restored"], result["skipped"], result["failed"]) == (0, len(original), [])
    assert sorted(result["planned"]) == sorted(f"/Restored/2026-11-02{p[len(ROOT) :]}" for p in original)
    assert backed_up(backup.emulator, "/Restored") == {}

    run, result = restore(ref=TAG, target_root="/Restored")
    assert run.state == DagRunState.SUCCESS
    assert (result["restored"], result["failed"]) == (len(original), [])
    restored = backed_up(backup.emulator, "/Restored")
    assert restored == {"/Restored" + path.removeprefix(ROOT): obj for path, obj in original.items()}
    assert backed_up(backup.emulator) == original


def test_restore_one_engagement_over_the_original_paths(backup):
    assert backup.run("2026-11-02").state == DagRunState.SUCCESS
    notebooks = sorted(
        p for p, o in backed_up(backup.emulator).items() if o[0] == "NOTEBOOK" and "/NOTEBOOKS/" in p
    )
    engagement = "/".join(notebooks[0].split("/")[:4])  # /Clients/<year>/<engagement>
    inside = [p for p in notebooks if p.startswith(engagement + "/")]
    other = next(p for p in notebooks if not p.startswith(engagement + "/"))
    at_tag = backed_up(backup.emulator, engagement)
    deleted, modified = inside[0], inside[-1]
    backup.emulator.delete(deleted)
    backup.emulator.modify_notebook(modified)
    backup.emulator.modify_notebook(other)
    changed_other = backup.emulator.snapshot(other)[other]
    paths = [engagement.removeprefix(ROOT + "/")]

    run, result = restore(ref=TAG, paths=paths)
    assert run.state == DagRunState.FAILED
    assert result["restored"] == 1
    assert {f["path"] for f in result["failed"]} == set(at_tag) - {deleted}
    assert all(f["reason"].startswith("RESOURCE_ALREADY_EXISTS") for f in result["failed"])
    assert backed_up(backup.emulator, engagement)[modified] != at_tag[modified], "overwrote without overwrite"

    backup.emulator.delete(deleted)
    run, result = restore(ref=TAG, paths=paths, overwrite=True)
    assert run.state == DagRunState.SUCCESS
    assert (result["restored"], result["failed"]) == (len(at_tag), [])
    assert backed_up(backup.emulator, engagement) == at_tag
    assert backup.emulator.snapshot(other)[other] == changed_other, "restored outside the selected paths"
