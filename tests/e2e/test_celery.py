"""The backup DAG in its production shape: Postgres, Redis, the CeleryExecutor with two workers, the staging
store and large XComs in Azure Blob Storage (Azurite), each worker with its own git mirror cache.

One cluster, two runs, each checked on the remote byte for byte against the emulator: a full sync whose
export tasks must spread over both workers; then, with both workers' mirror caches wiped as on new
machines, a daily run during which the worker running an export task is killed with ``kill -9`` (the task
is retried on the other one, which also commits). Then no log line of any component holds a secret.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
import redis

from gitsync_devkit.cluster import AZURITE_KEY, CONTAINER, CeleryAirflow, MissingTool
from tests.e2e.conftest import Backup
from tests.fixtures.git_server import GIT_TOKEN

DAG_ID = "databricks_git_backup"
WORKERS = ("worker-a", "worker-b")
pytestmark = pytest.mark.celery


@pytest.fixture
def cluster(backup: Backup, tmp_path: Path) -> Iterator[CeleryAirflow]:
    env = dict(os.environ) | {
        "AIRFLOW_HOME": str(tmp_path / "airflow-home"),
        "AIRFLOW__GITSYNC__PARALLEL_TASKS": "4",
        "AIRFLOW__GITSYNC__TASK_RETRIES": "1",
        "AIRFLOW__GITSYNC__MAX_RETRY_SECONDS": "600",  # an injected 503 holds an export task running
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",  # only the runs the test triggers
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "3600",  # parsed once, not every 30 s
        # A killed worker's task is found dead 30 s after its last heartbeat (default 300 s).
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "30",
    }
    with ExitStack() as stack:
        try:
            # A tiny threshold, so that this small workspace's XComs go through the object store too.
            yield stack.enter_context(CeleryAirflow(env, tmp_path / "cluster", WORKERS, xcom_threshold=512))
        except MissingTool as exc:
            pytest.fail(str(exc), pytrace=False)


def _change_every_engagement(backup: Backup, day: str) -> None:
    """A day's work: in each engagement one notebook modified and one added; one notebook deleted."""
    notebooks = sorted(o["path"] for o in backup.emulator.objects() if "/NOTEBOOKS/" in o["path"])
    engagements = sorted({"/".join(p.split("/")[:4]) for p in notebooks})
    for engagement in engagements:
        first = next(p for p in notebooks if p.startswith(engagement + "/"))
        backup.emulator.modify_notebook(first)
        source = f"# Databricks notebook source\nprint('{day}')\n".encode()
        backup.emulator.put_notebook(f"{first.rsplit('/', 1)[0]}/added {day}", source)
    backup.emulator.delete(notebooks[-1])


def _run(airflow: CeleryAirflow, day: str, before_end=None) -> str:
    run_id = airflow.trigger(DAG_ID, f"{day}T02:00:00Z")
    if before_end:
        before_end(run_id)
    state = airflow.wait(f"run {day}", lambda: airflow.run_state(DAG_ID, run_id), 900)
    assert state == "success", airflow.logs()
    return run_id


def _task_instances(airflow: CeleryAirflow, run_id: str, task_id: str) -> list[dict]:
    tis = airflow.api("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances", params={"limit": 1000})
    return [ti for ti in tis["task_instances"] if ti["task_id"] == task_id]


def _tries(airflow: CeleryAirflow, run_id: str, ti: dict) -> list[dict]:
    path = f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{ti['task_id']}/{ti['map_index']}/tries"
    return airflow.api("GET", path)["task_instances"]


def _check_backup(backup: Backup, day: str, previous: str | None) -> None:
    """The tag holds exactly the workspace, on one new commit on top of the previous day's."""
    assert backup.tree(f"backup/{day}") == backup.expected()
    assert backup.git("rev-parse", f"backup/{day}^{{}}") == backup.git("rev-parse", "backup/daily")
    if previous:
        assert backup.git("rev-list", "--count", f"backup/{previous}..backup/{day}").strip() == "1"


@pytest.mark.timeout(1200)  # 4.5 min measured on a loaded 2-core machine: over the 600 s default
def test_two_workers_a_killed_worker_and_wiped_mirrors(backup: Backup, cluster: CeleryAirflow):
    airflow = cluster
    airflow.unpause(DAG_ID)

    # Full sync: the export tasks (one folder export per engagement) spread over both workers. Four
    # more engagements, so that there are enough export tasks to spread.
    for i in range(4):
        for name in ("etl", "report"):
            source = f"# Databricks notebook source\nprint('{name} {i}')\n".encode()
            backup.emulator.put_notebook(f"/Clients/2025/ENG-CELERY-{i}/NOTEBOOKS/{name}", source)
    full = _run(airflow, "2026-11-01")
    _check_backup(backup, "2026-11-01", None)
    exports = _task_instances(airflow, full, "export")
    assert len(exports) >= 4
    assert {ti["hostname"] for ti in exports} == set(WORKERS), "one worker ran every export"
    assert _task_instances(airflow, full, "commit")[0]["hostname"] in WORKERS
    from azure.storage.blob import BlobServiceClient

    container = BlobServiceClient.from_connection_string(airflow.storage).get_container_client(CONTAINER)
    assert any(container.list_blob_names(name_starts_with="xcom/")), "no XCom went to the object store"

    # Both workers' mirrors are wiped, as on new machines; during the daily run the worker running one
    # engagement's export (held by 503s) is killed, and the task is retried on the other.
    for name in WORKERS:  # (a worker that never committed has none: its rate limit is in Redis)
        shutil.rmtree(airflow.cache_dir(name), ignore_errors=True)
    _change_every_engagement(backup, "2026-11-02")
    engagement = "2023/ENG-2023-0000"
    # Small changes are exported by the scans; this engagement changes enough to be exported as one
    # folder, by an export task.
    notebooks = sorted(
        o["path"]
        for o in backup.emulator.objects()
        if o["object_type"] == "NOTEBOOK" and o["path"].startswith(f"/Clients/{engagement}/")
    )
    for path in notebooks[: len(notebooks) // 2]:
        backup.emulator.modify_notebook(path)
    backup.emulator.inject_failure(f"/Clients/{engagement}", endpoints=("export",), status=503)
    killed: dict = {}

    def kill_its_worker(run_id: str) -> None:
        # The map index is rendered as the engagement only once a task ends: the one export task still
        # running after every other has ended is the held one.
        def held() -> dict | None:
            exports = _task_instances(airflow, run_id, "export")
            running = [ti for ti in exports if ti["state"] == "running" and ti["hostname"]]
            ended = [ti for ti in exports if ti["state"] in ("success", "failed")]
            return running[0] if len(running) == 1 and len(ended) == len(exports) - 1 else None

        killed.update(airflow.wait(f"the export of {engagement} to be held", held, 600))
        airflow.kill_worker(killed["hostname"])
        backup.emulator.clear_failures()

    daily = _run(airflow, "2026-11-02", kill_its_worker)
    _check_backup(backup, "2026-11-02", "2026-11-01")
    survivor = (set(WORKERS) - {killed["hostname"]}).pop()
    tries = _tries(airflow, daily, killed)
    assert [(t["try_number"], t["hostname"]) for t in tries] == [(1, killed["hostname"]), (2, survivor)]
    retried = next(
        ti for ti in _task_instances(airflow, daily, "export") if ti["map_index"] == killed["map_index"]
    )
    assert (retried["state"], retried["rendered_map_index"]) == ("success", engagement)
    assert _task_instances(airflow, daily, "commit")[0]["hostname"] == survivor  # from a wiped mirror

    # Both workers drew from one rate limit: the broker's Redis holds it (rate_limit_url = auto).
    broker = redis.Redis.from_url(airflow.env["AIRFLOW__CELERY__BROKER_URL"])
    limits = {key.decode().rsplit(":", 1)[-1] for key in broker.scan_iter("airflow-gitsync:ratelimit:*")}
    broker.close()
    assert {"list", "export"} <= limits, limits
    alone = [file for name in WORKERS for file in airflow.cache_dir(name).rglob("*.bucket")]
    assert not alone, f"a worker limited itself alone: {alone}"

    # No secret in any log of any component, task logs included.
    logs = [p for p in [*airflow.home.rglob("*.log"), *airflow.workdir.glob("*.log")] if p.is_file()]
    assert any("task_id=export" in str(p) for p in logs), "no task log found"
    secrets = {"the staging store's key": AZURITE_KEY, "the git PAT": GIT_TOKEN}
    for path in logs:
        text = path.read_text(errors="replace")
        for what, secret in secrets.items():
            assert secret not in text, f"{what} is in {path}"
