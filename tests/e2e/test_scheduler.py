"""The backup DAG under a real scheduler (LocalExecutor), driven through the REST API as the UI does.

Starts ``airflow api-server``, ``scheduler`` and ``dag-processor`` on a fresh SQLite home; triggers
a run with one engagement failing, clears that task instance with downstream through the API and
sees the run complete and the tag match; then backfills a missed date with ``airflow backfill
create`` and sees its tag.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.e2e.conftest import Backup

DAG_ID = "databricks_git_backup"
REPO_ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.scheduler


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Airflow:
    """A running Airflow (api-server + scheduler + dag-processor) and a REST client for it."""

    def __init__(self, home: Path, env: dict[str, str], port: int) -> None:
        self.home, self.env, self.url = home, env, f"http://127.0.0.1:{port}"
        self.procs: list[subprocess.Popen] = []
        self.session = requests.Session()

    def cli(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "airflow", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, f"airflow {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def start(self, *component: str) -> None:
        log = (self.home / f"{component[0]}.log").open("w")
        self.procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "airflow", *component],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text()[-4000:]}" for p in sorted(self.home.glob("*.log")))

    def api(self, method: str, path: str, **kwargs) -> dict:
        response = self.session.request(method, f"{self.url}/api/v2{path}", timeout=30, **kwargs)
        assert response.ok, f"{method} {path}: {response.status_code} {response.text}"
        return response.json()

    def wait(self, what: str, predicate, timeout: float = 300):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                value = predicate()
            except (requests.ConnectionError, AssertionError):
                value = None
            if value:
                return value
            time.sleep(2)
        raise AssertionError(f"timed out waiting for {what}\n{self.logs()}")

    def login(self) -> None:
        response = self.session.post(
            f"{self.url}/auth/token", json={"username": "admin", "password": "admin-pw"}, timeout=30
        )
        assert response.status_code == 201, response.text
        self.session.headers["Authorization"] = f"Bearer {response.json()['access_token']}"

    def run_state(self, run_id: str) -> str | None:
        state = self.api("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}")["state"]
        return state if state in ("success", "failed") else None


@pytest.fixture
def airflow(backup: Backup, tmp_path: Path) -> Iterator[Airflow]:
    home = tmp_path / "airflow-home"
    home.mkdir()
    port = _free_port()
    (home / "passwords.json").write_text(json.dumps({"admin": "admin-pw"}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__CORE__UNIT_TEST")} | {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__API_AUTH__JWT_SECRET": "test-jwt-secret-for-this-run-only",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
        "AIRFLOW__GITSYNC__PARALLEL_TASKS": "2",
    }
    instance = Airflow(home, env, port)
    instance.cli("db", "migrate")
    instance.start("api-server", "--port", str(port), "--host", "127.0.0.1")
    instance.start("scheduler")
    instance.start("dag-processor")
    try:
        instance.wait("the API server", lambda: requests.get(f"{instance.url}/api/v2/version", timeout=5).ok)
        instance.login()
        instance.wait("the DAG to be parsed", lambda: instance.api("GET", f"/dags/{DAG_ID}"))
        instance.api("PATCH", f"/dags/{DAG_ID}", json={"is_paused": False})
        yield instance
    finally:
        instance.stop()


def test_clear_failed_engagement_through_the_api_then_backfill(backup: Backup, airflow: Airflow):
    notebooks = sorted(o["path"] for o in backup.emulator.objects() if "/NOTEBOOKS/" in o["path"])
    failing = "/".join(notebooks[0].split("/")[:4])
    partition = failing.removeprefix("/Clients/")
    backup.emulator.inject_failure(failing, endpoints=("export",), status=500)

    run = airflow.api(
        "POST", f"/dags/{DAG_ID}/dagRuns", json={"logical_date": "2026-11-10T02:00:00Z", "conf": {}}
    )
    run_id = run["dag_run_id"]
    assert airflow.wait("the run to fail", lambda: airflow.run_state(run_id)) == "failed"
    tis = airflow.api("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances", params={"limit": 1000})
    failed = [ti for ti in tis["task_instances"] if ti["state"] == "failed"]
    assert sorted((ti["task_id"], ti["rendered_map_index"] or "") for ti in failed) == [
        ("export", partition),
        ("report", ""),
    ]
    failed = [ti for ti in failed if ti["task_id"] == "export"]
    assert backup.tree("backup/daily") == {
        p: c for p, c in backup.expected().items() if not p.startswith(partition + "/")
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
    assert airflow.wait("the cleared run to finish", lambda: airflow.run_state(run_id)) == "success"
    assert backup.tree("backup/2026-11-10") == backup.expected()

    # A commit task run again (as after a crash) creates no second commit and moves no tag.
    head = backup.git("rev-parse", "backup/daily", "backup/2026-11-10^{}")
    airflow.api(
        "POST",
        f"/dags/{DAG_ID}/clearTaskInstances",
        json={"dry_run": False, "dag_run_id": run_id, "task_ids": ["commit"], "include_downstream": True},
    )
    assert airflow.wait("the re-run commit", lambda: airflow.run_state(run_id)) == "success"
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
