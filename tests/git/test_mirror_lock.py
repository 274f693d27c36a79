from __future__ import annotations

import json
import logging
import subprocess
import sys
import time

import pytest

from airflow_gitsync.git.auth import GitAuth
from airflow_gitsync.git.mirror import Mirror, MirrorLockTimeout

URL = "http://git.invalid/r.git"
HOLD = f"""
import logging, sys, time
from pathlib import Path
from airflow_gitsync.git.auth import GitAuth
from airflow_gitsync.git.mirror import Mirror
mirror = Mirror(Path(sys.argv[1]), "{URL}", GitAuth.none(), logging.getLogger("holder"))
with mirror.lock("a hung backup commit"):
    print("held", flush=True)
    time.sleep(120)
"""


def test_a_hung_holder_of_the_mirror_fails_the_waiter_after_the_timeout_naming_it(tmp_path, caplog):
    path = tmp_path / "repo.git"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        mirror = Mirror(path, URL, GitAuth.none(), logging.getLogger("t"), lock_timeout=1)
        started = time.monotonic()
        with (
            caplog.at_level(logging.INFO),
            pytest.raises(MirrorLockTimeout) as raised,
            mirror.lock("a restore"),
        ):
            pytest.fail("took a lock another process holds")
        assert 1 <= time.monotonic() - started < 10
        assert f"still held by a hung backup commit (pid {holder.pid} on " in str(raised.value)
        assert f"held by a hung backup commit (pid {holder.pid} on " in caplog.text  # logged while waiting
    finally:
        holder.kill()
        holder.wait()
    with mirror.lock("a restore"):  # a dead holder's lock is gone with it
        assert path.with_name("repo.git.lock").read_text().startswith("a restore (pid ")


def test_the_hook_s_mirrors_wait_as_long_as_the_setting_says(monkeypatch, tmp_path):
    from airflow_gitsync.hooks.azure_devops_git import AzureDevOpsGitHook

    monkeypatch.setenv("AIRFLOW_CONN_GIT_LOCKED", json.dumps({"conn_type": "azure_devops_git", "host": URL}))
    monkeypatch.setenv("AIRFLOW__GITSYNC__LOCK_TIMEOUT_MINUTES", "2.5")
    hook = AzureDevOpsGitHook(azure_devops_git_conn_id="git_locked")
    assert hook.get_mirror(tmp_path).lock_timeout == 150
    assert hook.get_engine(tmp_path).mirror.lock_timeout == 150
