"""The restore DAG end to end: back up the emulated workspace, then restore the tag with ``dag.test()``."""

from __future__ import annotations

import json

from airflow.sdk import DagRunState

from airflow_gitsync.manifest import MANIFEST_PATH
from tests.e2e.conftest import EXPORT_LIMIT, ROOT, trigger
from tests.fixtures.git_server import push_commit

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


def test_a_forged_manifest_restores_nothing_outside_the_target_and_names_each_line_it_refused(
    backup, tmp_path
):
    """Issue 25: whoever can push to the backup repository can rewrite a manifest line's workspace path."""
    assert backup.run("2026-11-02").state == DagRunState.SUCCESS
    lines = [json.loads(line) for line in backup.git("show", f"{TAG}:{MANIFEST_PATH}").splitlines()]
    notebooks = [
        line for line in lines if line["object_type"] == "NOTEBOOK" and "/NOTEBOOKS/" in line["repo_path"]
    ]
    engagement = max(
        {"/".join(line["repo_path"].split("/")[:2]) for line in notebooks},
        key=lambda e: sum(line["repo_path"].startswith(e + "/") for line in notebooks),
    )
    victims = [line for line in notebooks if line["repo_path"].startswith(engagement + "/")][:3]
    other = next(line for line in notebooks if not line["repo_path"].startswith(engagement + "/"))
    forged = dict(
        zip(
            [line["repo_path"] for line in victims],
            [
                "/Users/admin@corp.com/x",
                f"{ROOT}/../../Users/admin@corp.com/y",
                other["workspace_path"],  # under the root, but another notebook's path: overwritten
            ],
            strict=True,
        )
    )
    for line in lines:
        line["workspace_path"] = forged.get(line["repo_path"], line["workspace_path"])
    manifest = "".join(json.dumps(line, sort_keys=True, separators=(",", ":")) + "\n" for line in lines)
    push_commit(backup.remote, tmp_path / "pusher", "main", {MANIFEST_PATH: manifest.encode()}, "forged")
    before = {o["path"] for o in backup.emulator.objects()}
    other_bytes = backup.emulator.snapshot(other["workspace_path"])

    run, result = restore(ref="main", target_root="/Restored")
    assert run.state == DagRunState.FAILED
    assert {f["path"]: f["reason"].split(": refused, ")[0] for f in result["failed"]} == {
        path: repo_path for repo_path, path in forged.items()
    }
    assert result["restored"] == len(lines) - len(forged)
    written = {o["path"] for o in backup.emulator.objects()} - before
    assert written and all(
        (p + "/").startswith("/Restored/") and not {"", ".", ".."} & set(p.split("/")[1:]) for p in written
    )

    run, result = restore(ref="main", paths=[engagement], overwrite=True)
    assert run.state == DagRunState.FAILED
    assert sorted(f["path"] for f in result["failed"]) == sorted(forged.values())
    assert {o["path"] for o in backup.emulator.objects()} - before == written
    assert backup.emulator.snapshot(other["workspace_path"]) == other_bytes

    run, result = restore(ref=TAG, target_root="/Restored/a/../../Users/admin@corp.com")
    assert (run.state, result) == (DagRunState.FAILED, None)
    assert {o["path"] for o in backup.emulator.objects()} - before == written
