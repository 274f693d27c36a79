"""What a remote answered, classified: it moved (fetch and retry), it refused (permanent), or it failed."""

from __future__ import annotations

import logging
import subprocess
import time
from pathlib import Path

import pytest

from airflow_gitsync.git.auth import GitAuth
from airflow_gitsync.git.mirror import REMOTE, Mirror, ls_remote
from airflow_gitsync.git.runner import GitError, GitPushRejected, GitRemoteNotFound, GitRemoteRefused
from airflow_gitsync.git.snapshot import ChangeSet, SnapshotEngine
from tests.fixtures.git_server import GIT_TOKEN, GIT_USER
from tests.git.test_snapshot import DAY1, Workspace

IDENT = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com"}
IDENT |= {"GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}


@pytest.fixture
def bare(git_server, git_remote) -> Path:
    """The server-side repository behind ``git_remote``."""
    return git_server.root / "backup.git"


@pytest.fixture
def mirror(git_remote, tmp_path) -> Mirror:
    mirror = Mirror(
        tmp_path / "mirror.git", git_remote, GitAuth.basic(GIT_USER, GIT_TOKEN), logging.getLogger(__name__)
    )
    mirror.sync()
    return mirror


def _commit(mirror: Mirror, name: str, parent: str | None = None) -> str:
    """A commit, built object by object, whose root tree holds ``name``/config."""
    blob = mirror.git.text("hash-object", "-w", "--stdin", input=b"[core]\n")
    folder = mirror.git.text("mktree", input=f"100644 blob {blob}\tconfig\n".encode())
    root = mirror.git.text("mktree", input=f"040000 tree {folder}\t{name}\n".encode())
    parents = ["-p", parent] if parent else []
    return mirror.git.text("commit-tree", root, *parents, "-m", name, env=IDENT)


@pytest.mark.parametrize("name", [".GIT", "git~1"])
def test_objects_the_remote_fsck_refuses_are_refused_not_moved(mirror, bare, git_server, name):
    subprocess.run(["git", "-C", bare, "config", "receive.fsckObjects", "true"], check=True)
    with pytest.raises(GitRemoteRefused, match=r"\(unpacker error\)") as error:
        mirror.push(_commit(mirror, name), "refs/heads/main", None)
    assert "remote: error: object" in str(error.value) and "hasDotgit" in str(error.value)
    assert [p.status for p in git_server.push_log] == [200]


def test_a_pre_receive_hook_that_declines_is_refused_at_once_with_its_message(
    git_remote, bare, git_server, tmp_path
):
    hook = bare / "hooks" / "pre-receive"
    hook.write_text(f"#!/bin/sh\necho 'Branch policy: no pushes by {GIT_TOKEN}' >&2\nexit 1\n")
    hook.chmod(0o755)
    engine = SnapshotEngine(git_remote, auth=GitAuth.basic(GIT_USER, GIT_TOKEN), cache_dir=tmp_path / "cache")
    workspace = Workspace()

    with pytest.raises(GitRemoteRefused, match=r"\(pre-receive hook declined\)") as error:
        workspace.apply(engine, ChangeSet([workspace.write("2024/E/NOTEBOOKS/a.py")]), DAY1)

    assert "remote: Branch policy: no pushes by ***" in str(error.value) and GIT_TOKEN not in str(error.value)
    assert len(git_server.push_log) == 1  # no fetch-and-retry: retrying cannot change the answer


def test_a_push_the_remote_is_ahead_of_is_rejected_as_moved(mirror):
    first = _commit(mirror, "a")
    mirror.push(first, "refs/heads/main", None)
    with pytest.raises(GitPushRejected, match="non-fast-forward"):
        mirror.push(_commit(mirror, "b"), "refs/heads/main", first)


def test_a_failed_fetch_is_never_a_rejected_push(mirror, bare):
    first, second = _commit(mirror, "a"), _commit(mirror, "b")
    mirror.push(first, "refs/tags/t", None)
    mirror.push(second, "refs/heads/main", None)
    subprocess.run(["git", "-C", bare, "update-ref", "refs/tags/t", second], check=True)  # someone moved it
    with pytest.raises(GitError, match="would clobber existing tag") as error:
        mirror.git.remote("fetch", REMOTE, "refs/tags/*:refs/tags/*")
    assert type(error.value) is GitError


@pytest.mark.parametrize("command", ["sync", "ls-remote"])
def test_a_wrong_repository_url_fails_at_once_not_retried(git_server, git_remote, tmp_path, command):
    """A 404 (a wrong repository path) is as permanent as a wrong PAT: the task fails in one try."""
    from airflow_gitsync.airflow_compat import AirflowFailException
    from airflow_gitsync.dags.common import failing_fast

    url = git_server.url_for("no-such-repo.git")
    auth, log = GitAuth.basic(GIT_USER, GIT_TOKEN), logging.getLogger(__name__)
    started = time.monotonic()
    with pytest.raises(AirflowFailException, match="not retried") as failure, failing_fast():
        if command == "sync":
            Mirror(tmp_path / "mirror.git", url, auth, log).sync()
        else:
            ls_remote(url, auth, log)
    assert time.monotonic() - started < 5  # no backoff either
    error = failure.value.__cause__
    assert isinstance(error, GitRemoteNotFound)
    assert f"repository {url} not found" in str(error) and GIT_TOKEN not in str(error)
