"""
### Databricks notebooks → Git backup

Backs up every notebook and workspace file under `workspace_root` (default `/Clients`, laid out as
`/Clients/{year}/{engagement}/NOTEBOOKS/...`) into the Git repository of the
`azure_devops_git` connection: one commit per run on `working_branch`, merged into `branch`, and an
annotated tag per backup date once every engagement of the run is in.

`prepare` → `scan` (one per year folder) → `plan` → `export` (one per changed engagement, named in
the UI by its engagement) → `commit` → `report`.

**An engagement failed?** Its `export` task is red and the run ends failed, but everything else
was committed and pushed. Fix the cause, then *Clear* that task instance **with downstream**: it
exports again, `commit` adds it, and the run is tagged.

**Backfill** a missed date with `airflow backfill create --dag-id databricks_git_backup
--from-date D --to-date D`. It captures the workspace as it is when it runs (there is no history
to read from Databricks); the logical date and the capture time are both in the commit and tag
messages.

Deployment settings live in the `[gitsync]` Airflow config section; see the project README.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, TriggerRule, conf, dag, get_current_context, task
from airflow.sdk.exceptions import AirflowSkipException

from airflow_gitsync import tasks
from airflow_gitsync.notifications import failure_notifiers
from airflow_gitsync.operators.report import BackupReportOperator
from airflow_gitsync.timetables import DailyBackupTimetable

# Concurrent scan/export tasks; each uses 1/parallel_tasks of the workspace rate limits.
PARALLEL_TASKS = conf.getint("gitsync", "parallel_tasks", fallback=4)
NETWORK_RETRIES = {
    "retries": conf.getint("gitsync", "task_retries", fallback=2),
    "retry_delay": timedelta(seconds=30),
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": timedelta(minutes=10),
}


@dag(
    dag_id="databricks_git_backup",
    schedule=DailyBackupTimetable("02:00"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["databricks", "git", "backup"],
    on_failure_callback=failure_notifiers(),
    params={
        "workspace_root": Param(
            "/Clients", type="string", title="Workspace root", description="Workspace folder to back up."
        ),
        "branch": Param(
            "main", type="string", title="Branch", description="Branch the backup is merged into."
        ),
        "working_branch": Param(
            "backup/daily",
            type="string",
            title="Working branch",
            description="Branch that receives the backup commits; only this DAG writes it.",
        ),
        "tag_format": Param(
            "backup/%Y-%m-%d",
            type="string",
            title="Tag format",
            description="strftime pattern of the tag per backup date (applied to the logical date).",
        ),
        "years": Param(
            [],
            type="array",
            items={"type": "string"},
            title="Years",
            description="Only these top-level folders (e.g. 2024). Empty: all of them.",
        ),
        "full_scan": Param(
            False,
            type="boolean",
            title="Full scan",
            description="Export every notebook and compare content, not timestamps (heals any drift).",
        ),
        "commit_batch_size": Param(
            1000,
            type="integer",
            minimum=1,
            maximum=100000,
            title="Commit batch size",
            description="Most files per commit and push (the first full sync is split into several).",
        ),
        "dry_run": Param(
            False, type="boolean", title="Dry run", description="Scan and report; export and commit nothing."
        ),
        "databricks_conn_id": Param("databricks_default", type="string", title="Databricks connection"),
        "git_conn_id": Param("azure_devops_git_default", type="string", title="Azure DevOps Git connection"),
    },
)
def databricks_git_backup():
    @task(**NETWORK_RETRIES)
    def prepare(params=None, ti=None) -> list[dict]:
        """Validate the params, refresh the git mirror, read the manifest, list the year folders."""
        result = tasks.prepare(params)
        ti.xcom_push(key="run", value={k: v for k, v in result.items() if k != "units"})
        return result["units"]

    @task(map_index_template="{{ unit_label }}", max_active_tis_per_dag=PARALLEL_TASKS, **NETWORK_RETRIES)
    def scan(unit: dict, params=None) -> dict:
        """List one year folder's engagements and diff them against the manifest."""
        get_current_context()["unit_label"] = unit["unit"] or "(root)"
        return tasks.scan(unit, params)

    @task(trigger_rule=TriggerRule.ALL_DONE)
    def plan(ti=None) -> list[dict]:
        """Collect the engagements that changed and group them into export tasks."""
        units = ti.xcom_pull(task_ids="prepare")
        if units is None:
            raise AirflowSkipException("the prepare task did not finish: nothing to plan")
        result = tasks.plan(
            units,
            [s for s in ti.xcom_pull(task_ids=["scan"]) or [] if s],
            max_map_length=conf.getint("core", "max_map_length"),
            batch_objects=tasks.WorkerConfig.load().export_batch_objects,
        )
        ti.xcom_push(key="missing_units", value=result["missing_units"])
        ti.xcom_push(key="engagements", value=result["engagements"])
        return result["export_tasks"]

    @task(map_index_template="{{ export_label }}", max_active_tis_per_dag=PARALLEL_TASKS, **NETWORK_RETRIES)
    def export(export_task: dict, params=None, ti=None) -> None:
        """Export the changed notebooks of one engagement (or a few small ones) into the staging store.

        What succeeded is pushed (XCom key ``results``) even when an engagement fails, so that
        ``commit`` still commits it; the task then fails, naming the engagements to retry.
        """
        get_current_context()["export_label"] = export_task["label"]
        results, stats, errors = tasks.export(export_task, params)
        ti.xcom_push(key="results", value=results)
        ti.xcom_push(key="stats", value=stats)
        if errors:
            raise errors[0] if len(errors) == 1 else ExceptionGroup("engagements failed", errors)

    @task(trigger_rule=TriggerRule.ALL_DONE, **NETWORK_RETRIES)
    def commit(params=None, ti=None, run_id=None, logical_date=None, dag_run=None) -> dict:
        """Commit what the exports produced, push, merge into the branch; tag when the run is complete."""
        engagements = ti.xcom_pull(task_ids="plan", key="engagements")
        if engagements is None:
            raise AirflowSkipException("the plan task did not finish: nothing to commit")
        return tasks.commit(
            ti.xcom_pull(task_ids="prepare", key="run"),
            {"engagements": engagements, "missing_units": ti.xcom_pull(task_ids="plan", key="missing_units")},
            [r for results in ti.xcom_pull(task_ids=["export"], key="results") or [] for r in results or []],
            params,
            run_id=run_id,
            logical_date=logical_date or dag_run.run_after,
        )

    units = prepare()
    scanned = scan.expand(unit=units)
    planned = plan()
    exported = export.expand(export_task=planned)
    committed = commit()
    report = BackupReportOperator(task_id="report", trigger_rule=TriggerRule.ALL_DONE)
    [units, scanned] >> planned
    [planned, exported] >> committed >> report


databricks_git_backup()
