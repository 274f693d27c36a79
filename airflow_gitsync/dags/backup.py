"""
### Databricks notebooks → Git backup

Backs up every notebook and workspace file under `workspace_root` (default `/Clients`, laid out as
`/Clients/{year}/{engagement}/NOTEBOOKS/...`) into the Git repository of the
`azure_devops_git` connection: one commit per run on `working_branch`, merged into `branch`, and an
annotated tag per backup date once every engagement of the run is in.

`prepare` → `scan` (one per year folder; it also exports small changes as soon as their engagement
is listed) → `plan` → `export` (the engagements exported as one folder, and any the scan could not
export; named in the UI by their engagements) → `commit` → `report`, and `clean_staging` (removes
staged objects no recent or unfinished run needs, `[gitsync] staging_retention_days`).

**An engagement failed?** Its `export` task is red (an engagement the scan could not export goes
to an export task, which tries again) and the run ends failed, but everything else was committed
and pushed. Fix the cause, then *Clear* that task instance **with downstream**: it
exports again, `commit` adds it, and the run is tagged.

**Backfill** a missed date with `airflow backfill create --dag-id databricks_git_backup
--from-date D --to-date D`. It captures the workspace as it is when it runs (there is no history
to read from Databricks); the logical date and the capture time are both in the commit and tag
messages.

Deployment settings live in the `[gitsync]` Airflow config section; see the project README.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from airflow.sdk import DAG, TriggerRule, get_current_context, task

from airflow_gitsync.airflow_compat import AirflowSkipException, conf
from airflow_gitsync.compat import UTC, ExceptionGroup
from airflow_gitsync.config import GitsyncConfig
from airflow_gitsync.dags.common import dag_arguments, failing_fast, network_retries
from airflow_gitsync.operators.report import BackupReportOperator
from airflow_gitsync.params import BACKUP_PARAMS
from airflow_gitsync.results import (
    EXPORTING_TASKS,
    ExportTask,
    ExportTaskResult,
    PlanResult,
    PrepareResult,
    TaskId,
    XComKey,
    YearSlice,
    from_xcom,
    pull,
    pull_all,
    to_xcom,
)
from airflow_gitsync.retention import RunRecord, run_references
from airflow_gitsync.tasks import backup as backup_tasks
from airflow_gitsync.timetables import DailyBackupTimetable
from airflow_gitsync.workspace.scan import ScanResult

log = logging.getLogger(__name__)


def backup_dag(
    dag_id: str = "databricks_git_backup",
    schedule: Any = None,
    params: Mapping[str, Any] | None = None,
    **dag_kwargs: Any,
) -> DAG:
    """The backup DAG: ``prepare`` → ``scan[year]`` → ``plan`` → ``export[engagements]`` → ``commit``
    → ``report``.

    :param dag_id: the DAG's id.
    :param schedule: default daily at 02:00 UTC with the day as logical date (:class:`DailyBackupTimetable`).
    :param params: new defaults for the trigger form's params (``{"workspace_root": "/Clients/2024"}``).
    :param dag_kwargs: any other ``DAG`` argument (``start_date``, ``tags``, ``default_args`` ...).
    """
    config = GitsyncConfig.load()
    # A return value is megabytes at 70,000 notebooks: never logged whole.
    network = network_retries(config)
    kwargs = dag_arguments(
        config,
        BACKUP_PARAMS,
        params,
        schedule=schedule or DailyBackupTimetable("02:00"),
        doc_md=__doc__,
        tag="backup",
        dag_kwargs=dag_kwargs,
    )

    with DAG(dag_id, **kwargs) as dag:

        @task(**network)
        def prepare(params=None, ti=None) -> list[dict]:
            """Validate the params, refresh the git mirror, read the manifest, list the year folders."""
            with failing_fast(ti):
                result = backup_tasks.prepare(params)
            ti.xcom_push(key=XComKey.RUN, value=to_xcom(result))
            return [to_xcom(year) for year in result.years]

        mapped = {"max_active_tis_per_dag": config.parallel_tasks, **network}

        @task(map_index_template="{{ year_label }}", multiple_outputs=False, **mapped)
        def scan(year: dict, params=None, ti=None) -> dict:
            """List one year folder's engagements, diff them against the manifest, export each as soon
            as it is listed; what it exported is pushed under XCom key ``exports``."""
            year_slice = from_xcom(YearSlice, year)
            get_current_context()["year_label"] = year_slice.year or "(root)"
            with failing_fast():
                result, exported = backup_tasks.scan(year_slice, params)
            _push_exports(ti, exported)
            return to_xcom(result)

        # A short circuit: with nothing left to export, ``plan`` skips the export tasks itself, so the
        # scheduler queues ``commit`` in its next loop instead of first expanding ``export`` to nothing
        # (a scheduler loop of every daily run: 0.9-1.7 s from plan to commit before, 0.6-0.8 s after).
        # ``commit`` still runs (all done).
        @task.short_circuit(
            ignore_downstream_trigger_rules=False,
            trigger_rule=TriggerRule.ALL_DONE,
            show_return_value_in_logs=False,
        )
        def plan(ti=None) -> list[dict]:
            """Collect the engagements that changed and group them into export tasks (none: skipped)."""
            prepared = pull(ti, PrepareResult, TaskId.PREPARE, XComKey.RUN)
            if prepared is None:
                raise AirflowSkipException("the prepare task did not finish: nothing to plan")
            scans = pull_all(ti, ScanResult, [TaskId.SCAN])
            with failing_fast(ti):
                result = backup_tasks.plan(prepared.years, scans, conf.getint("core", "max_map_length"))
            ti.xcom_push(key=XComKey.PLAN, value=to_xcom(result))
            return [to_xcom(t) for t in result.export_tasks]

        @task(
            map_index_template="{{ export_label }}", max_active_tis_per_dag=config.parallel_tasks, **network
        )
        def export(export_task: dict, params=None, ti=None) -> None:
            """Export the changed notebooks of one engagement (or a few small ones) into the staging store.

            What succeeded is pushed (XCom key ``exports``) even when an engagement fails, so that
            ``commit`` still commits it; the task then fails, naming the engagements to retry.
            """
            work = from_xcom(ExportTask, export_task)
            get_current_context()["export_label"] = work.label
            with failing_fast():
                result, errors = backup_tasks.export(work, params)
            _push_exports(ti, result)
            if errors:
                raise errors[0] if len(errors) == 1 else ExceptionGroup("engagements failed", errors)

        @task(trigger_rule=TriggerRule.ALL_DONE, **network)
        def commit(params=None, ti=None, run_id=None, logical_date=None, dag_run=None) -> dict:
            """Commit what the exports produced, push, merge into the branch; tag when the run is
            complete. Then record what the run staged, for the staging store's retention."""
            planned = pull(ti, PlanResult, TaskId.PLAN, XComKey.PLAN)
            if planned is None:
                raise AirflowSkipException("the plan task did not finish: nothing to commit")
            prepared = pull(ti, PrepareResult, TaskId.PREPARE, XComKey.RUN)
            exports = _exports(ti)
            with failing_fast(ti):
                result = backup_tasks.commit(
                    prepared,
                    planned,
                    exports,
                    params,
                    run_id=run_id,
                    logical_date=logical_date or dag_run.run_after,
                )
                backup_tasks.record_run(
                    _run_record(dag_run, prepared, planned, exports, result.complete), params
                )
            return to_xcom(result)

        @task(trigger_rule=TriggerRule.ALL_DONE, **network)
        def clean_staging(params=None, ti=None, dag_run=None) -> dict | None:
            """After a successful commit remove the staged objects that no recent or unfinished run needs
            ([gitsync] staging_retention_days); otherwise record what this run staged, so that it is
            kept for a retry, and remove nothing."""
            if ti.xcom_pull(task_ids=TaskId.COMMIT) is None:
                prepared = pull(ti, PrepareResult, TaskId.PREPARE, XComKey.RUN)
                planned = pull(ti, PlanResult, TaskId.PLAN, XComKey.PLAN)
                with failing_fast():
                    backup_tasks.record_run(
                        _run_record(dag_run, prepared, planned, _exports(ti), False), params
                    )
                log.info("the commit did not succeed: the staging store is not swept")
                return None
            with failing_fast():
                result = backup_tasks.clean_staging(params, datetime.now(UTC))
            return None if result is None else to_xcom(result)

        years = prepare()
        scanned = scan.expand(year=years)
        planned = plan()
        exported = export.expand(export_task=planned)
        committed = commit()
        report = BackupReportOperator(task_id=TaskId.REPORT, trigger_rule=TriggerRule.ALL_DONE)
        [years, scanned] >> planned
        exported >> committed >> [report, clean_staging()]
    return dag


def _push_exports(ti: Any, result: ExportTaskResult) -> None:
    """What a scan or export task exported: whole for the commit, counted for the report."""
    ti.xcom_push(key=XComKey.EXPORTS, value=to_xcom(result))
    ti.xcom_push(key=XComKey.EXPORT_COUNTS, value=to_xcom(result.counts()))


def _exports(ti: Any) -> list[ExportTaskResult]:
    """What each of the run's scan and export tasks exported, with the pack it staged."""
    return pull_all(ti, ExportTaskResult, EXPORTING_TASKS, XComKey.EXPORTS)


def _run_record(
    dag_run: Any,
    prepared: PrepareResult | None,
    planned: PlanResult | None,
    exported: list[ExportTaskResult],
    complete: bool,
) -> RunRecord:
    now = datetime.now(UTC).isoformat()
    return RunRecord(
        dag_id=dag_run.dag_id,
        run_id=dag_run.run_id,
        captured_at=prepared.capture_time if prepared else now,
        recorded_at=now,
        complete=complete,
        **run_references(prepared, planned, exported),
    )
