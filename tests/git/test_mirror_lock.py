from __future__ import annotations

import logging
import subprocess
import sys
import time

import pytest

from airflow_gitsync.git.auth import GitAuth
from airflow_gitsync.git.mirror import Mirror, MirrorLockTimeout

HOLD = """
import logging, sys, time
from pathlib import Path
from airflow_gitsync.git.auth import GitAuth
from airflow_gitsync.git.mirror import Mirror
mirror = Mirror(Path(sys.argv[1]), "http://git.invalid/r.git", GitAuth.none(), logging.getLogger("holder"))
with mirror.lock("a hung backup commit"):
    print("held", flush=True)
    time.sleep(120)
"""


def test_a_hung_holder_of_the_mirror_fails_the_waiter_after_the_timeout_naming_it(tmp_path, caplog):
    path = tmp_path / "repo.git"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        mirror = Mirror(
            path, "http://git.invalid/r.git", GitAuth.none(), logging.getLogger("t"), lock_timeout=1
        )
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
