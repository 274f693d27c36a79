"""The backup DAG as a user first runs it, ``airflow dags test``: the check `make test-matrix` makes on every
Python and Airflow combination."""

from __future__ import annotations

import os
import subprocess
import sys


def test_airflow_dags_test_backs_up_the_workspace_byte_for_byte(backup):
    done = subprocess.run(
        [sys.executable, "-m", "airflow", "dags", "test", "databricks_git_backup", "2026-11-01"],
        env=os.environ,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert backup.tree("backup/2026-11-01") == backup.expected()
    assert backup.tree("main") == backup.expected()
