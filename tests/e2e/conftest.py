"""End-to-end fixtures: a migrated Airflow database and one backup setup (emulator + git server)."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest

from airflow_gitsync.compat import UTC
from airflow_gitsync.layout import OWNED_ROOT_FILES, to_repo_path
from gitsync_devkit.emulator import WorkspaceEmulator
from gitsync_devkit.git_server import GitServer
from tests.fixtures.git_server import auth_env
from tests.fixtures.wiring import wire_backup

ROOT = "/Clients"
EXPORT_LIMIT = 10 * 1024 * 1024


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """``airflow db migrate`` once per session into the test AIRFLOW_HOME (SQLite)."""
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)


@dataclass
class Backup:
    """One emulated workspace, one git remote, and the DAG wired to both."""

    emulator: WorkspaceEmulator
    server: GitServer
    remote: str
    workdir: Path

    def run(self, day: str, **params):
        dag = dag_of("databricks_git_backup")
        logical_date = datetime.fromisoformat(day).replace(hour=2, tzinfo=UTC)
        return dag.test(logical_date=logical_date, run_conf=params or None)

    @staticmethod
    def summary(run) -> dict:
        """The report task's summary XCom of a finished run."""
        return xcom(run, "report", "summary")

    def git(self, *args: str) -> str:
        """Run git against a fresh fetch of the remote (all refs, tags included)."""
        mirror = self.workdir / "check.git"
        if not mirror.exists():
            subprocess.run(["git", "init", "-q", "--bare", str(mirror)], check=True)
        subprocess.run(
            [
                "git",
                "-C",
                str(mirror),
                "fetch",
                "-q",
                "--prune",
                "--prune-tags",
                "--force",
                self.remote,
                "+refs/heads/*:refs/heads/*",
                "+refs/tags/*:refs/tags/*",
            ],
            env=auth_env(self.remote),
            check=True,
        )
        return subprocess.run(
            ["git", "-C", str(mirror), *args], check=True, capture_output=True, text=True
        ).stdout

    def tree(self, ref: str) -> dict[str, bytes]:
        """``{path: bytes}`` of every file at ``ref`` on the remote, except the manifest."""
        mirror = self.workdir / "check.git"
        self.git("fsck", "--strict", "--no-dangling")
        names = self.git("ls-tree", "-r", "-z", "--name-only", ref).split("\0")
        return {
            name: subprocess.run(
                ["git", "-C", str(mirror), "cat-file", "blob", f"{ref}:{name}"],
                check=True,
                capture_output=True,
            ).stdout
            for name in names
            if name and not name.startswith(".gitsync/") and name not in OWNED_ROOT_FILES
        }

    def expected(self) -> dict[str, bytes]:
        """What the backup must hold: every exportable notebook and file of the workspace, as repo paths."""
        snapshot = self.emulator.snapshot(ROOT)
        return {
            to_repo_path(ROOT, o["path"], o["object_type"], o.get("language")): snapshot[o["path"]]
            for o in self.emulator.objects()
            if o["object_type"] in ("NOTEBOOK", "FILE")
            and o["path"] in snapshot
            and len(snapshot[o["path"]]) <= EXPORT_LIMIT
        }


def dag_of(dag_id: str):
    """The DAG ``dag_id`` of ``dags/``, parsed as the DAG processor does."""
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 3.1
        from airflow.models.dagbag import DagBag

    bag = DagBag(str(Path(__file__).resolve().parents[2] / "dags"))
    assert not bag.import_errors, bag.import_errors
    return bag.get_dag(dag_id)


def xcom(run, task_id: str, key: str = "return_value"):
    """The XCom ``key`` of the (unmapped) task ``task_id`` of a finished run; None when it pushed none."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        query = XComModel.get_many(run_id=run.run_id, dag_ids=run.dag_id, task_ids=task_id, key=key)
        value = session.scalars(query).one_or_none()
        return None if value is None else XComModel.deserialize_value(value)


def trigger(dag_id: str, task_id: str, key: str, **conf):
    """Run the DAG ``dag_id`` of ``dags/`` with ``conf`` (``dag.test()``); return the run and the XCom
    ``key`` of its task ``task_id``."""
    run = dag_of(dag_id).test(run_conf=conf)
    return run, xcom(run, task_id, key)


@pytest.fixture
def backup(emulator_factory, git_server, tmp_path, monkeypatch, airflow_db) -> Backup:
    """A ~150-notebook workspace (its over-size notebooks removed) and an empty remote, wired up."""
    emulator = emulator_factory(generate=150, seed=3)
    for obj in emulator.objects():
        if obj["object_type"] == "NOTEBOOK" and obj.get("size", 0) > EXPORT_LIMIT:
            emulator.delete(obj["path"])
    git_server.create_repo("backup.git")
    remote = git_server.url_for("backup.git")
    wire_backup(monkeypatch, emulator.port, remote, tmp_path)
    return Backup(emulator=emulator, server=git_server, remote=remote, workdir=tmp_path)
