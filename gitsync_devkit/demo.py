"""``make demo``: the real backup DAG, end to end, against local stand-ins for Databricks and Azure DevOps.

Starts the Workspace API emulator (a generated workspace of ~2,000 notebooks, at the published
rate limits) and the git smart-HTTP server (with PAT auth) as separate processes, runs
``databricks_git_backup`` in a local Airflow (SQLite) for one day, changes the workspace (modify,
add, delete, rename), runs the next day incrementally, then prints each run's summary and the
remote's ``git log``. Everything lives under ``.demo/`` in the checkout. With ``--ui`` (``make demo
UI=1``) Airflow's scheduler runs the two days instead of ``airflow dags test`` (which keeps no task log),
and Airflow's UI then stays up on that database, with the Backups view and each task's log, until Ctrl-C.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlsplit

from airflow_gitsync.git.auth import GitAuth
from gitsync_devkit.local_airflow import ADMIN, PASSWORD, LocalAirflow, backup_env
from gitsync_devkit.servers import start_server

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "dapi-demo-token"
PAT = "demo-pat-secret"
REPO = "notebooks.git"
DAG_ID = "databricks_git_backup"
# Airflow's processes log at its default level (INFO): the UI shows the logs of the tasks they run,
# which WARNING left nearly empty. Only this process, which reads the database and prints, stays quiet.
AIRFLOW_LOGS = {"AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO"}


def _control(url: str, action: str, payload: dict) -> dict:
    request = urllib.request.Request(
        f"{url}/_emulator/{action}",
        data=json.dumps(payload).encode(),
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read() or b"{}")


def _objects(url: str) -> list[dict]:
    request = urllib.request.Request(f"{url}/_emulator/objects", headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())["objects"]


def mutate(url: str) -> str:
    """A day's worth of change: modify, add, delete and rename some notebooks."""
    notebooks = sorted(
        (o for o in _objects(url) if o["object_type"] == "NOTEBOOK" and o.get("size", 0) < 1_000_000),
        key=lambda o: o["path"],
    )
    modified, deleted, renamed = notebooks[::40][:40], notebooks[7::97][:8], notebooks[13::211][:4]
    for obj in modified:
        _control(url, "modify", {"path": obj["path"]})
    for obj in deleted:
        _control(url, "delete", {"path": obj["path"], "recursive": False})
    for obj in renamed:
        if obj not in deleted:
            _control(url, "rename", {"old": obj["path"], "new": obj["path"] + "_renamed"})
    folder = "/".join(notebooks[0]["path"].split("/")[:-1])
    for i in range(15):
        source = f"# Databricks notebook source\nprint('new notebook {i}')\n".encode()
        _control(
            url,
            "notebooks",
            {
                "path": f"{folder}/demo_new_{i}",
                "content": base64.b64encode(source).decode(),
                "language": "PYTHON",
            },
        )
    return f"modified {len(modified)}, deleted {len(deleted)}, renamed {len(renamed)}, added 15 notebooks"


def _run_dag(day: str, workdir: Path, airflow: LocalAirflow | None) -> tuple[str, dict | None]:
    """Run the DAG for one logical date, with ``airflow dags test`` or, given ``airflow``, triggered
    through its REST API and run by its scheduler (which keeps each task's log for the UI; ``dags test``
    keeps none); return its state and summary."""
    from airflow.models.dagrun import DagRun
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    query = select(DagRun).where(DagRun.dag_id == DAG_ID).order_by(DagRun.id.desc())
    if airflow is not None:
        run_id = airflow.trigger(DAG_ID, f"{day}T00:00:00Z")
        airflow.wait(f"the run of {day}", lambda: airflow.run_state(DAG_ID, run_id), timeout=3600)
        query = query.where(DagRun.run_id == run_id)
    else:
        with (workdir / f"run-{day}.log").open("w") as log:
            subprocess.run(
                [sys.executable, "-m", "airflow", "dags", "test", DAG_ID, day],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=os.environ | AIRFLOW_LOGS,
                cwd=workdir,  # not the checkout: see gitsync_devkit.local_airflow
            )
    with create_session() as session:
        run = session.scalars(query).first()
        if run is None:
            raise SystemExit(f"error: the run for {day} did not start: see {workdir}/run-{day}.log")
        query = XComModel.get_many(run_id=run.run_id, dag_ids=DAG_ID, task_ids="report", key="summary")
        row = session.scalars(query).first()
        return str(run.state), XComModel.deserialize_value(row) if row else None


def _print_summary(title: str, state: str, summary: dict | None, elapsed: float, log: str) -> None:
    print(f"\n=== {title}: run {state} in {elapsed:.0f} s ===")
    if summary is None:
        print(f"(no summary: see {log})")
        return
    totals = summary["totals"]
    print(f"  (full log: {log})")
    print("  " + ", ".join(f"{k} {v:,}" for k, v in totals.items()))
    for year, counts in summary["per_year"].items():
        print(f"  {year}: " + ", ".join(f"{k} {v:,}" for k, v in counts.items() if v))
    commit = summary["commit"]
    size = commit.get("repo_size_bytes")  # None: the blobless mirror cannot measure it
    print(
        f"  tag {commit.get('tag')}, {len(commit.get('commits', []))} commit(s), "
        f"{commit.get('pushed_bytes') or 0:,} bytes pushed"
        + (f", repo {size:,} bytes" if size is not None else "")
    )
    for failure in summary["failures"]:
        print(f"  FAILED {failure['path']}: {failure['reason']}")
    if summary["failures"] and all("MAX_NOTEBOOK_SIZE_EXCEEDED" in f["reason"] for f in summary["failures"]):
        print(
            "  (expected: the generated workspace holds notebooks over Databricks' 10 MB export limit;\n"
            "   they are reported and the run is marked failed so alerts fire, never skipped silently)"
        )
    for warning in summary["warnings"][:10]:
        print(f"  warning: {warning}")


def _start_airflow(stack: ExitStack) -> LocalAirflow:
    """Airflow's API server, scheduler and DAG processor on the demo's database (stopped with ``stack``);
    the backup DAG unpaused but scheduled by nothing but the demo's triggers."""
    print("Starting Airflow (api-server, scheduler, dag-processor) ...")
    airflow = stack.enter_context(
        LocalAirflow(dict(os.environ) | AIRFLOW_LOGS, extra={"AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False"})
    )
    airflow.unpause(DAG_ID)
    return airflow


def _serve_ui(airflow: LocalAirflow) -> None:
    """Until Ctrl-C."""
    print(
        f"\nThe Backups view: {airflow.url}/plugin/backups (user {ADMIN}, password {PASSWORD}); each task's\n"
        "log is on its page. The dates after the demo's two runs show as missing, with the backfill command\n"
        f"that fills them (run it with AIRFLOW_HOME={os.environ['AIRFLOW_HOME']}). Ctrl-C stops everything."
    )
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("\nStopping ...")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notebooks", type=int, default=2000)
    parser.add_argument("--workdir", type=Path, default=ROOT / ".demo")
    parser.add_argument("--ui", action="store_true", help="then serve Airflow's UI until Ctrl-C")
    args = parser.parse_args(argv)

    workdir = args.workdir.resolve()
    shutil.rmtree(workdir, ignore_errors=True)
    (workdir / "git").mkdir(parents=True)
    home = workdir / "airflow"
    # `airflow dags test` writes its output to run-<day>.log (with --ui, the scheduler runs the DAG).
    os.environ.update(backup_env(home, workdir) | {"AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING"})
    with ExitStack() as stack:
        print(f"Starting the Workspace API emulator with {args.notebooks:,} generated notebooks ...")
        emulator = start_server(
            stack,
            "workspace_emulator",
            "emulator",
            [
                "--port",
                "0",
                "--generate",
                str(args.notebooks),
                "--token",
                TOKEN,
                "--seed",
                "7",
                "--export-rps",
                "60",
                "--list-rps",
                "50",
                "--latency-ms",
                "20",
            ],
            workdir,
        )
        print("Starting the git smart-HTTP server (PAT auth) ...")
        git_url = start_server(
            stack,
            "git_server",
            "git_server",
            [
                "--root",
                str(workdir / "git"),
                "--port",
                "0",
                "--user",
                "backup",
                "--token",
                PAT,
                "--create",
                REPO,
            ],
            workdir,
        )
        remote = f"{git_url.rstrip('/')}/{REPO}"
        address = urlsplit(emulator)
        os.environ["AIRFLOW_CONN_DATABRICKS_DEFAULT"] = json.dumps(
            {
                "conn_type": "databricks",
                "host": address.hostname,
                "port": address.port,
                "schema": address.scheme,
                "password": TOKEN,
            }
        )
        os.environ["AIRFLOW_CONN_AZURE_DEVOPS_GIT_DEFAULT"] = json.dumps(
            {"conn_type": "azure_devops_git", "host": remote, "login": "backup", "password": PAT}
        )
        airflow = None
        if args.ui:  # the runs go through the scheduler, so that the UI shows their task logs
            airflow = _start_airflow(stack)
        else:
            print("Preparing the Airflow database (SQLite) ...")
            subprocess.run(
                [sys.executable, "-m", "airflow", "db", "migrate"],
                check=True,
                capture_output=True,
                cwd=workdir,
            )

        def log(day: str) -> str:
            return (
                f"{workdir}/run-{day}.log"
                if airflow is None
                else f"the task logs in Airflow's UI, {airflow.url}"
            )

        started = time.monotonic()
        state, summary = _run_dag("2026-11-26", workdir, airflow)
        _print_summary("Day 1: full sync", state, summary, time.monotonic() - started, log("2026-11-26"))

        print(f"\nChanging the workspace: {mutate(emulator)}")
        started = time.monotonic()
        state, summary = _run_dag("2026-11-27", workdir, airflow)
        _print_summary(
            "Day 2: incremental sync", state, summary, time.monotonic() - started, log("2026-11-27")
        )

        clone = workdir / "clone"
        with GitAuth.basic("backup", PAT).env(remote) as auth_env:
            subprocess.run(["git", "clone", "-q", remote, str(clone)], check=True, env=os.environ | auth_env)
        print("\n=== git log --oneline --decorate --all (the remote) ===")
        subprocess.run(["git", "-C", str(clone), "log", "--oneline", "--decorate", "--all"], check=True)
        files = subprocess.run(
            ["git", "-C", str(clone), "ls-files"], check=True, capture_output=True, text=True
        )
        print(f"\n{len(files.stdout.splitlines()):,} files in the backup, e.g.:")
        for line in files.stdout.splitlines()[:: max(1, len(files.stdout.splitlines()) // 6)][:6]:
            print(f"  {line}")
        print(
            f"\nWhere everything lives:\n"
            f"  workspace emulator   {emulator} (token {TOKEN})\n"
            f"  git remote           {remote} (user backup, PAT in the Airflow connection)\n"
            f"  a clone of it        {clone}\n"
            f"  Airflow home         {home} (SQLite, task logs under logs/)\n"
            f"  staging store        {workdir / 'staging'}\n"
            f"  git mirror cache     {workdir / 'mirrors'}\n"
            f"  server logs          {workdir}/*.log"
        )
        if airflow is not None:
            _serve_ui(airflow)
        else:
            print("\n(make demo UI=1 also leaves Airflow's UI running, with the Backups view)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
