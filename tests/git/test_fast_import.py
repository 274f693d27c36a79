"""fast-import paths: whatever a path holds, it is one path in the tree, never a command."""

from __future__ import annotations

import logging
import subprocess

from airflow_gitsync.git.auth import GitAuth
from airflow_gitsync.git.fast_import import FastImport
from airflow_gitsync.git.runner import GitRunner

PATHS = [
    '"leading quote.py',
    "a\nM 100644 inline injected.py\ndata 3\nevil",  # a line feed would start a command of its own
    'back\\slash and "quote".py',
    "tab\there\x01\x7f.py",
    'ends with a quote"',
    "plain/ünïcode ✓.py",
]


def test_every_path_lands_as_itself(tmp_path):
    repo = tmp_path / "r.git"
    subprocess.run(["git", "init", "-q", "--bare", str(repo)], check=True)
    runner = GitRunner(repo, "file:///unused", GitAuth.none(), logging.getLogger(__name__))
    with FastImport(runner, "refs/heads/main") as stream:
        mark = stream.begin_commit(ident="t <t@t>", when="1700000000 +0000", message="hostile paths")
        for number, path in enumerate(PATHS):
            stream.put(path, f"{number}\n".encode())
        commit = stream.finish()[mark]
    listing = runner.run("ls-tree", "-r", "-z", "--name-only", commit).stdout.split(b"\0")
    assert sorted(p.decode() for p in listing if p) == sorted(PATHS)
    for number, path in enumerate(PATHS):
        blob = runner.run("ls-tree", "-z", commit, "--", path).stdout.split(b"\t")[0].split()[2].decode()
        assert runner.run("cat-file", "blob", blob).stdout == f"{number}\n".encode()
