"""No secret may reach a git argv, the mirror's config, a log record, an object, or the staging store."""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest

from airflow_gitsync.blob import git_blob_id
from airflow_gitsync.git.auth import GitAuth
from airflow_gitsync.git.snapshot import ChangeSet, CommitInfo, SnapshotEngine
from airflow_gitsync.manifest import ManifestEntry
from gitsync_devkit.git_server import GitServer
from tests.fixtures.git_server import GIT_TOKEN
from tests.fixtures.packs import into_mirror

SSH_KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAAc2VjcmV0LWtleQ==\n"
    "-----END OPENSSH PRIVATE KEY-----\n"
)
INFO = CommitInfo("manual__1", "2026-11-27T00:00:00+00:00", "2026-11-27T02:00:00+00:00")

GIT_SHIM = """#!/bin/sh
printf '%s\\n' "git $*" >> "{log}"
exec /usr/bin/git "$@"
"""
# Stands in for ssh: logs its argv and the key file's mode, then runs the remote command locally.
SSH_SHIM = """#!/bin/sh
printf '%s\\n' "ssh $*" >> "{log}"
while [ $# -gt 1 ]; do
  if [ "$1" = -i ]; then stat -c 'key mode %a' "$2" >> "{log}"; fi
  shift
done
exec sh -c "$1"
"""


@pytest.fixture
def argv_log(tmp_path, monkeypatch) -> Path:
    """Every git and ssh process started through PATH appends its argv to the returned file."""
    shims, log = tmp_path / "shims", tmp_path / "argv.log"
    shims.mkdir()
    for name, script in (("git", GIT_SHIM), ("ssh", SSH_SHIM)):
        (shims / name).write_text(script.format(log=log))
        (shims / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{shims}:{os.environ['PATH']}")
    return log


def _auth_cases(git_server: GitServer, tmp_path: Path):
    bare = tmp_path / "ssh-remote.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    git_server.create_repo("pat.git")
    git_server.create_repo("bearer.git")
    return [
        ("pat", git_server.url_for("pat.git"), GitAuth.basic("backup", GIT_TOKEN)),
        (
            "bearer",
            git_server.url_for("bearer.git"),
            GitAuth.bearer(lambda: GIT_TOKEN, "entra sp 1234-client"),
        ),
        ("ssh", f"ssh://git.example.test{bare}", GitAuth.ssh(SSH_KEY)),
    ]


def checked_argv(log: Path) -> bytes:
    return log.read_bytes()


def _all_objects(git_dir: Path) -> bytes:
    return subprocess.run(
        ["git", f"--git-dir={git_dir}", "cat-file", "--batch-all-objects", "--batch"],
        capture_output=True,
        check=True,
    ).stdout


def test_no_secret_leaks_with_pat_bearer_or_ssh(git_server, tmp_path, argv_log, caplog, monkeypatch):
    caplog.set_level(logging.DEBUG)
    # A temp dir of its own: the machine's /tmp holds the key files of other runs at work meanwhile.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    for name, url, auth in _auth_cases(git_server, tmp_path):
        engine = SnapshotEngine(
            url, auth=auth, cache_dir=tmp_path / f"cache-{name}", working_branch="backup/daily"
        )
        content = f"# Databricks notebook source\nprint('{name}')\n".encode()
        entry = ManifestEntry(f"2026/E1/NOTEBOOKS/{name}.py", f"/Clients/2026/E1/{name}", 1, "NOTEBOOK",
                              "PYTHON", 1, git_blob_id(content))  # fmt: skip
        into_mirror(engine, [content])
        result = engine.apply(ChangeSet([entry]), INFO, tag="backup/2026-11-27")
        assert result.changed and result.tag_created

        assert b" push --porcelain " in checked_argv(argv_log), "the git shim saw no push"
        secrets = auth.secrets()
        assert secrets, name
        checked = {
            "argv": checked_argv(argv_log),
            "mirror config": (engine.mirror.path / "config").read_bytes(),
            "log": "\n".join(r.getMessage() for r in caplog.records).encode(),
            "objects": _all_objects(engine.mirror.path),
            "staging": b"".join(p.read_bytes() for p in (tmp_path / "staging").rglob("*") if p.is_file()),
        }
        for secret in secrets:
            for where, data in checked.items():
                assert secret.encode() not in data, f"{name} secret found in {where}"
        assert f"as {auth.describe()}" in caplog.text

    assert b"key mode 600" in argv_log.read_bytes()  # ssh got its key from a 0600 file...
    assert f" -i {tmp_path}/tmp/gitsync-key-".encode() in argv_log.read_bytes()
    assert not list((tmp_path / "tmp").glob("gitsync-key-*"))  # ...deleted afterwards
    assert "as bearer entra sp 1234-client" in caplog.text
    assert "refs/heads/backup/daily (new) -> " in caplog.text
    assert all(r.levelno < logging.WARNING for r in caplog.records)


def test_ssh_key_file_is_private_and_removed():
    auth = GitAuth.ssh(SSH_KEY)
    with auth.env("ssh://host/repo.git") as env:
        key_file = Path(env["GIT_SSH_COMMAND"].split(" -i ")[1].split()[0])
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600 and key_file.read_text() == SSH_KEY
        assert SSH_KEY not in env["GIT_SSH_COMMAND"]
    assert not key_file.exists()
    assert auth.describe() == "ssh" and auth.secrets() == [SSH_KEY]


def test_header_is_scoped_to_the_remote_and_prompts_are_off():
    with GitAuth.basic("backup", "p").env("https://dev.azure.com/org/p/_git/r") as env:
        keys = {
            env[f"GIT_CONFIG_KEY_{n}"]: env[f"GIT_CONFIG_VALUE_{n}"]
            for n in range(int(env["GIT_CONFIG_COUNT"]))
        }
    assert keys["http.https://dev.azure.com/org/p/_git/r.extraHeader"] == "Authorization: Basic YmFja3VwOnA="
    assert keys["credential.helper"] == "" and env["GIT_TERMINAL_PROMPT"] == "0"
