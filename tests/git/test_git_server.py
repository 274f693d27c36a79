"""The test git server: real http-backend, PAT/bearer auth, chunked bodies, push size limit, CLI."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import time

import pytest

from gitsync_devkit.git_server import GitServer


def _git(*args: str, cwd=None, header: str | None = None, url: str = "") -> subprocess.CompletedProcess:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_NOSYSTEM": "1"}
    if header:
        env |= {
            "GIT_CONFIG_COUNT": "1",
            "GIT_CONFIG_KEY_0": f"http.{url}.extraHeader",
            "GIT_CONFIG_VALUE_0": header,
        }
    return subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True)


def _basic(user: str, password: str) -> str:
    return "Authorization: Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture
def work(tmp_path):
    work = tmp_path / "work"
    subprocess.run(["git", "init", "-q", "-b", "main", str(work)], check=True)
    (work / "big.bin").write_bytes(os.urandom(2_500_000))  # > 1 MiB: git sends the body chunked
    (work / "note.py").write_text("# Databricks notebook source\n")
    subprocess.run(["git", "add", "."], cwd=work, check=True)
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "c"], cwd=work, check=True
    )
    return work


def test_push_and_clone_with_pat_and_bearer(git_server, git_remote, work, tmp_path):
    pushed = _git(
        "push",
        git_remote,
        "HEAD:refs/heads/main",
        cwd=work,
        header=_basic("any", "pat-secret"),
        url=git_remote,
    )
    assert pushed.returncode == 0, pushed.stderr
    clone = tmp_path / "clone"
    cloned = _git(
        "clone", "-q", git_remote, str(clone), header="Authorization: Bearer pat-secret", url=git_remote
    )
    assert cloned.returncode == 0, cloned.stderr
    assert (clone / "big.bin").read_bytes() == (work / "big.bin").read_bytes()
    [push] = git_server.push_log
    head = _git("rev-parse", "HEAD", cwd=work).stdout.strip()
    assert push.refs == [("0" * 40, head, "refs/heads/main")] and push.status == 200 and push.user == "any"
    assert push.bytes > 2_500_000


@pytest.mark.parametrize("header", [None, _basic("backup", "wrong"), "Authorization: Bearer wrong"])
def test_anonymous_or_wrong_credentials_get_401(git_remote, header):
    result = _git("ls-remote", git_remote, header=header, url=git_remote)
    assert result.returncode != 0
    assert (
        "could not read Username" in result.stderr
        or "401" in result.stderr
        or "Authentication" in result.stderr
    )


def test_push_over_the_limit_is_refused(tmp_path, work):
    with GitServer(tmp_path / "srv", token="t", max_push_bytes=100_000) as server:
        server.create_repo("r.git")
        url = server.url_for("r.git")
        result = _git(
            "push", url, "HEAD:refs/heads/main", cwd=work, header="Authorization: Bearer t", url=url
        )
        assert result.returncode != 0 and "413" in result.stderr
        assert [p.status for p in server.push_log] == [413]
        assert _git("ls-remote", url, header="Authorization: Bearer t", url=url).stdout == ""


def test_cli_rejects_bad_input_in_one_line(tmp_path):
    cmd = [
        sys.executable,
        "-m",
        "gitsync_devkit.git_server",
        "--root",
        str(tmp_path),
        "--token",
        "t",
    ]
    result = subprocess.run([*cmd, "--port", "nope"], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1


def test_cli_serves_until_terminated(tmp_path):
    ready = tmp_path / "ready"
    cmd = [sys.executable, "-m", "gitsync_devkit.git_server", "--root", str(tmp_path / "root")]
    proc = subprocess.Popen([*cmd, "--token", "t", "--create", "r.git", "--ready-file", str(ready)])
    try:
        for _ in range(100):
            if ready.exists() and ready.read_text().endswith("\n"):
                break
            time.sleep(0.1)
        url = ready.read_text().strip() + "/r.git"
        assert _git("ls-remote", url, header="Authorization: Bearer t", url=url).returncode == 0
    finally:
        proc.terminate()
        assert proc.wait(10) == 0
