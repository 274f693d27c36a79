"""Hostile names and fail-fast errors, end to end with ``dag.test()`` (issue 10)."""

from __future__ import annotations

import json
import os
import subprocess
import time

from airflow.sdk import DagRunState

from tests.e2e.conftest import ROOT
from tests.e2e.test_restore import backed_up, restore
from tests.fixtures.git_server import clone

ENG = f"{ROOT}/2024/ENG-HOSTILE/NOTEBOOKS"
SOURCE = b"# Databricks notebook source\nprint('hostile')\n"
HOSTILE_NOTEBOOKS = [
    f"{ENG}/GIT~1/x", f"{ENG}/git~1", f"{ENG}/.g\u200cit/hooks/post-checkout", f"{ENG}/.git",
    f"{ENG}/CON", f"{ENG}/a:b", f"{ENG}/trailing.", f"{ENG}/line\u2028sep", f"{ENG}/next\u0085line",
    f"{ENG}/" + "\u00e9" * 200, f"{ROOT}/2024/GIT~1/NOTEBOOKS/y",
]  # fmt: skip
HOSTILE_FILES = {
    f"{ENG}/.gitmodules": b'[submodule "x"]\n\tpath = x\n\turl = --upload-pack=touch /tmp/pwned\n',
    f"{ROOT}/.gitattributes": b"* text eol=crlf\n",
    f"{ROOT}/README.md": b"not the backup's README\n",
    f"{ENG}/.mailmap": b"A <a@x>\n",
    f"{ENG}/.gitignore": b"*\n",
}


def test_hostile_names_back_up_to_a_strict_remote_and_restore_by_their_names(backup, git_server, tmp_path):
    repo = git_server.root / "backup.git"
    subprocess.run(["git", "-C", str(repo), "config", "receive.fsckObjects", "true"], check=True)
    for path in HOSTILE_NOTEBOOKS:
        backup.emulator.put_notebook(path, SOURCE + path.encode())
    for path, data in HOSTILE_FILES.items():
        backup.emulator.put_file(path, data)

    run = backup.run("2026-11-02")
    assert run.state == DagRunState.SUCCESS, backup.summary(run)["failures"]
    assert backup.git("tag", "--list") == "backup/2026-11-02\n"
    checkout = clone(backup.remote, tmp_path / "plain-clone")  # a plain clone, then fsck --strict
    assert checkout[".gitattributes"].startswith(b"# Written by airflow-gitsync")
    assert b"Databricks notebook backup" in checkout["README.md"]
    manifest = {
        e["workspace_path"]: e["repo_path"]
        for e in map(json.loads, filter(None, checkout[".gitsync/manifest.jsonl"].split(b"\n")))
    }
    for path in [*HOSTILE_NOTEBOOKS, *HOSTILE_FILES]:
        exported = backup.emulator.snapshot(path)[path]
        assert checkout[manifest[path]] == exported, path  # checked-out bytes are the exported bytes

    original = backed_up(backup.emulator)
    run, result = restore(ref="backup/2026-11-02", target_root="/Restored")
    assert run.state == DagRunState.SUCCESS and result["failed"] == []
    restored = backed_up(backup.emulator, "/Restored")
    assert restored == {"/Restored" + p.removeprefix(ROOT): o for p, o in original.items()}


def _fails_in_one_try(backup, **params):
    started = time.monotonic()
    run = backup.run("2026-11-03", **params)
    seconds = time.monotonic() - started
    (prepare,) = [ti for ti in run.get_task_instances() if ti.task_id == "prepare"]
    assert run.state == DagRunState.FAILED and prepare.state == "failed" and prepare.try_number == 1
    assert seconds < 60
    return backup.summary(run)["failures"]


def test_bad_param_wrong_token_and_wrong_pat_fail_in_one_try_naming_the_cause(backup, monkeypatch):
    monkeypatch.setenv("AIRFLOW__GITSYNC__TASK_RETRIES", "3")  # would be retried if it were not permanent
    (failure,) = _fails_in_one_try(backup, workspace_root="/nope")
    assert "workspace_root '/nope'" in failure["reason"] and "prepare task failed" in failure["reason"]
    (failure,) = _fails_in_one_try(backup, tag_format="%")
    assert "tag_format" in failure["reason"]

    conn = json.loads(os.environ["AIRFLOW_CONN_DATABRICKS_DEFAULT"])
    monkeypatch.setenv("AIRFLOW_CONN_DATABRICKS_DEFAULT", json.dumps(conn | {"password": "dapi-wrong"}))
    (failure,) = _fails_in_one_try(backup)
    assert "refused" in failure["reason"] and "dapi-wrong" not in failure["reason"]

    monkeypatch.setenv("AIRFLOW_CONN_DATABRICKS_DEFAULT", json.dumps(conn))
    git = json.loads(os.environ["AIRFLOW_CONN_AZURE_DEVOPS_GIT_DEFAULT"])
    monkeypatch.setenv("AIRFLOW_CONN_AZURE_DEVOPS_GIT_DEFAULT", json.dumps(git | {"password": "wrong-pat"}))
    (failure,) = _fails_in_one_try(backup)
    assert "authentication failed" in failure["reason"] and "wrong-pat" not in failure["reason"]
