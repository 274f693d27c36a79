"""A real Airflow on this machine: ``api-server`` + ``scheduler`` + ``dag-processor``.

For the end-to-end tests and the benchmarks: a fresh home (SQLite and the LocalExecutor unless ``extra``
says otherwise, as :mod:`gitsync_devkit.cluster` does), the simple auth manager with one admin user, and a
REST client that logs in and drives runs as the UI does. Every ``airflow`` command runs in the home, never
in the checkout: ``python -m`` puts its working directory on ``sys.path``, and the checkout's
``airflow_gitsync.egg-info`` there is a second installed copy of the provider, whose plugin Airflow would
load twice (the UI's "1 Plugin Import Error").
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from gitsync_devkit.servers import free_port, spawn, stop

ADMIN, PASSWORD = "admin", "admin-pw"
REPO_ROOT = Path(__file__).resolve().parents[1]


def backup_env(home: Path, state_dir: Path) -> dict[str, str]:
    """Airflow settings for running the backup DAG from this checkout on one machine (SQLite home,
    staging store and git mirrors under ``state_dir``); every other setting is the default."""
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__GITSYNC__STAGING_URL": f"file://{state_dir}/staging",
        "AIRFLOW__GITSYNC__CACHE_DIR": str(state_dir / "mirrors"),
    }


class LocalAirflow:
    """Start with ``with LocalAirflow(env) as airflow:``; ``env`` must set ``AIRFLOW_HOME``."""

    def __init__(
        self, env: dict[str, str], parallelism: int = 4, extra: dict[str, str] | None = None
    ) -> None:
        self.port = free_port()
        self.home = Path(env["AIRFLOW_HOME"])
        self.url = f"http://127.0.0.1:{self.port}"
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "passwords.json").write_text(json.dumps({ADMIN: PASSWORD}))
        self.env = (
            {k: v for k, v in env.items() if not k.startswith("AIRFLOW__CORE__UNIT_TEST")}
            | {
                "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                "AIRFLOW__CORE__PARALLELISM": str(parallelism),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN}:admin",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.home / "passwords.json"),
                "AIRFLOW__API__BASE_URL": self.url,
                "AIRFLOW__API_AUTH__JWT_SECRET": "local-airflow-jwt-secret-for-this-run-only",
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
                "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
            }
            | (extra or {})
        )
        self.procs: list[subprocess.Popen] = []
        self.session = requests.Session()

    def cli(self, *args: str) -> str:
        """Run an ``airflow`` CLI command against this home; its failure raises with the output."""
        done = subprocess.run(
            [sys.executable, "-m", "airflow", *args],
            env=self.env,
            cwd=self.home,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if done.returncode:
            raise RuntimeError(f"airflow {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def start(self, name: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
        """Start ``airflow ARGS`` (``env`` over this home's environment), logging to ``<home>/<name>.log``;
        it is stopped on exit."""
        argv = [sys.executable, "-m", "airflow", *args]
        proc = spawn(None, name, argv, self.home, self.env | (env or {}), cwd=self.home)
        self.procs.append(proc)
        return proc

    def start_components(self) -> None:
        """Start the long-running components, once the database is migrated."""
        self.start("api-server", "api-server", "--port", str(self.port), "--host", "127.0.0.1")
        self.start("scheduler", "scheduler")
        self.start("dag-processor", "dag-processor")

    def __enter__(self) -> LocalAirflow:
        self.cli("db", "migrate")
        self.start_components()
        try:
            self.wait("the API server", lambda: requests.get(f"{self.url}/api/v2/version", timeout=5).ok)
            response = self.session.post(
                f"{self.url}/auth/token", json={"username": ADMIN, "password": PASSWORD}, timeout=30
            )
            response.raise_for_status()
            self.session.headers["Authorization"] = f"Bearer {response.json()['access_token']}"
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            stop(proc)

    def api(self, method: str, path: str, **kwargs: Any) -> dict:
        """Call ``/api/v2<path>``; an error status raises with the response body."""
        response = self.session.request(method, f"{self.url}/api/v2{path}", timeout=30, **kwargs)
        if not response.ok:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text}")
        return response.json()

    def logs(self) -> str:
        """The tail of each component's log, for a failure message."""
        return "\n".join(f"--- {p.name}\n{p.read_text()[-4000:]}" for p in sorted(self.home.glob("*.log")))

    def wait(
        self, what: str, predicate: Callable[[], Any], timeout: float = 300, interval: float = 1.0
    ) -> Any:
        """Poll ``predicate`` until it returns something true; time out with the components' logs."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if value := predicate():
                    return value
            except (requests.RequestException, RuntimeError):
                pass
            time.sleep(interval)
        raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}\n{self.logs()}")

    def unpause(self, dag_id: str) -> None:
        """Wait for the DAG to be parsed, then unpause it."""
        self.wait(f"DAG {dag_id} to be parsed", lambda: self.api("GET", f"/dags/{dag_id}"))
        self.api("PATCH", f"/dags/{dag_id}", json={"is_paused": False})

    def trigger(self, dag_id: str, logical_date: str, conf: dict | None = None) -> str:
        """Trigger a run (as the UI's trigger button does) and return its run id."""
        run = self.api(
            "POST", f"/dags/{dag_id}/dagRuns", json={"logical_date": logical_date, "conf": conf or {}}
        )
        return run["dag_run_id"]

    def run_state(self, dag_id: str, run_id: str) -> str | None:
        """``success`` or ``failed`` once the run has finished, else None."""
        state = self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}")["state"]
        return state if state in ("success", "failed") else None
