"""The backup DAG under a real scheduler (LocalExecutor), driven through the REST API as the UI does.

Starts ``airflow api-server``, ``scheduler`` and ``dag-processor`` on a fresh SQLite home; triggers
a run with one engagement failing, clears that task instance with downstream through the API and
sees the run complete and the tag match; then backfills a missed date with ``airflow backfill
create`` and sees its tag.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitsync_devkit.local_airflow import LocalAirflow
from tests.e2e.conftest import Backup

DAG_ID = "databricks_git_backup"
REPO_ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.scheduler


@pytest.fixture
def airflow(backup: Backup, tmp_path: Path) -> Iterator[LocalAirflow]:
    env = dict(os.environ) | {
        "AIRFLOW_HOME": str(tmp_path / "airflow-home"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
        "AIRFLOW__GITSYNC__PARALLEL_TASKS": "2",
    }
    with LocalAirflow(env) as instance:
        instance.unpause(DAG_ID)
        yield instance


def test_clear_failed_engagement_through_the_api_then_backfill(backup: Backup, airflow: LocalAirflow):
    notebooks = sorted(o["path"] for o in backup.emulator.objects() if "/NOTEBOOKS/" in o["path"])
    failing = "/".join(notebooks[0].split("/")[:4])
    engagement = failing.removeprefix("/Clients/")
    backup.emulator.inject_failure(failing, endpoints=("export",), status=500)

    run_id = airflow.trigger(DAG_ID, "2026-11-10T02:00:00Z")
    assert airflow.wait("the run to fail", lambda: airflow.run_state(DAG_ID, run_id)) == "failed"
    tis = airflow.api("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances", params={"limit": 1000})
    failed = [ti for ti in tis["task_instances"] if ti["state"] == "failed"]
    assert sorted((ti["task_id"], ti["rendered_map_index"] or "") for ti in failed) == [
        ("export", engagement),
        ("report", ""),
    ]
    failed = [ti for ti in failed if ti["task_id"] == "export"]
    assert backup.tree("backup/daily") == {
        p: c for p, c in backup.expected().items() if not p.startswith(engagement + "/")
    }

    backup.emulator.clear_failures()
    airflow.api(
        "POST",
        f"/dags/{DAG_ID}/clearTaskInstances",
        json={
            "dry_run": False,
            "dag_run_id": run_id,
            "task_ids": [["export", failed[0]["map_index"]]],
            "include_downstream": True,
            "only_failed": False,
            "reset_dag_runs": True,
        },
    )
    assert airflow.wait("the cleared run to finish", lambda: airflow.run_state(DAG_ID, run_id)) == "success"
    assert backup.tree("backup/2026-11-10") == backup.expected()

    # A commit task run again (as after a crash) creates no second commit and moves no tag.
    head = backup.git("rev-parse", "backup/daily", "backup/2026-11-10^{}")
    airflow.api(
        "POST",
        f"/dags/{DAG_ID}/clearTaskInstances",
        json={"dry_run": False, "dag_run_id": run_id, "task_ids": ["commit"], "include_downstream": True},
    )
    assert airflow.wait("the re-run commit", lambda: airflow.run_state(DAG_ID, run_id)) == "success"
    assert backup.git("rev-parse", "backup/daily", "backup/2026-11-10^{}") == head

    airflow.cli(
        "backfill", "create", "--dag-id", DAG_ID, "--from-date", "2026-11-08", "--to-date", "2026-11-08"
    )

    def backfill_state():
        runs = airflow.api("GET", f"/dags/{DAG_ID}/dagRuns", params={"run_type": "backfill"})["dag_runs"]
        done = [r["state"] for r in runs if r["state"] in ("success", "failed")]
        return done[0] if done else None

    assert airflow.wait("the backfill run", backfill_state) == "success"
    assert backup.tree("backup/2026-11-08") == backup.expected()
