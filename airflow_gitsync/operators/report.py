"""The runs' last tasks: sum up what every task returned, show it, and fail an incomplete run (backup)
or one that found content drift or could not verify everything (verify)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow.sdk import BaseOperator

from airflow_gitsync.airflow_compat import AirflowFailException, Stats
from airflow_gitsync.backup_report import build_summary, md_source, metrics, render_markdown
from airflow_gitsync.results import (
    EXPORTING_TASKS,
    CheckTaskResult,
    CommitResult,
    ExportTaskResult,
    PlanResult,
    PrepareResult,
    TaskId,
    XComKey,
    pull,
    pull_all,
)
from airflow_gitsync.verify import VerifyPlan
from airflow_gitsync.verify_report import metrics as verify_metrics
from airflow_gitsync.verify_report import render_markdown as render_verify_markdown
from airflow_gitsync.verify_report import summarize
from airflow_gitsync.workspace.scan import ScanResult


class _ReportOperator(BaseOperator):
    """A run's last task: its summary in the log and in the UI as the rendered ``report_md`` field (the
    markdown's source, readable as text: Airflow 3 shows rendered fields as code, never as markdown),
    in XCom (key ``summary``; the Backups view renders it), and its counters in ``Stats``."""

    template_fields: Sequence[str] = ("report_md",)
    overwrite_rtif_after_execution = True
    ui_color = "#e8f4ea"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.report_md = "(the summary appears here once the run has finished)"

    def _publish(
        self, context: Any, markdown: str, summary: dict, counters: Mapping[str, float], prefix: str
    ) -> None:
        self.report_md = md_source(markdown)
        self.log.info("Summary:\n%s", self.report_md)
        for name, value in counters.items():
            Stats.gauge(f"{prefix}.{name}", value, tags={"dag_id": self.dag_id})
        context["ti"].xcom_push(key=XComKey.SUMMARY, value=summary)

    @staticmethod
    def _title(context: Any, what: str) -> str:
        day = (context.get("logical_date") or context["dag_run"].run_after).date().isoformat()
        return f"{what} {day} ({context['run_id']})"


class BackupReportOperator(_ReportOperator):
    """Summarise a backup run in the task log, XCom (key ``summary``), the UI and metrics; fail when
    it is incomplete.

    The markdown summary is shown in the UI as this task's rendered ``report_md`` field. Counters and
    per-phase durations go to Airflow's ``Stats`` under ``gitsync.``. The task fails (without retry)
    when any year, engagement or notebook did not make it into the backup, so the run ends failed
    and the DAG's ``on_failure_callback`` notifiers fire. It reads the tasks ``prepare``, ``scan``,
    ``plan``, ``export`` and ``commit`` of its DAG.
    """

    def execute(self, context: Any) -> None:
        ti = context["ti"]
        summary = build_summary(
            prepared=pull(ti, PrepareResult, TaskId.PREPARE, XComKey.RUN),
            scans=pull_all(ti, ScanResult, [TaskId.SCAN]),
            planned=pull(ti, PlanResult, TaskId.PLAN, XComKey.PLAN),
            export_tasks=pull_all(ti, ExportTaskResult, EXPORTING_TASKS, XComKey.EXPORT_COUNTS),
            committed=pull(ti, CommitResult, TaskId.COMMIT),
            errors={
                task_id: error
                for task_id in (TaskId.PREPARE, TaskId.PLAN, TaskId.COMMIT)
                if (error := pull(ti, str, task_id, XComKey.ERROR))
            },
        )
        markdown = render_markdown(summary, self._title(context, "Databricks backup"))
        self._publish(context, markdown, summary.to_dict(), metrics(summary), "gitsync")
        if not summary.complete or summary.failures:
            raise AirflowFailException(
                f"backup incomplete: {len(summary.failures)} failures, first: "
                + "; ".join(f"{p}: {r}" for p, r in summary.failures[:3])
            )


class VerifyReportOperator(_ReportOperator):
    """Summarise a verify run like the backup's report: the task log, XCom (key ``summary``), the UI
    (rendered ``report_md``) and ``Stats`` under ``gitsync.verify.``. Fails (without retry) when the
    backup disagrees with its manifest, on content drift behind an unchanged ``modified_at``, and when
    anything could not be verified. It reads the tasks ``prepare`` and ``check`` of its DAG.
    """

    def execute(self, context: Any) -> None:
        ti = context["ti"]
        summary = summarize(
            pull(ti, VerifyPlan, TaskId.PREPARE, XComKey.RUN),
            pull_all(ti, CheckTaskResult, [TaskId.CHECK]),
            pull(ti, str, TaskId.PREPARE, XComKey.ERROR),
        )
        markdown = render_verify_markdown(summary, self._title(context, "Databricks backup verify"))
        self._publish(context, markdown, summary.to_dict(), verify_metrics(summary), "gitsync.verify")
        if message := summary.failure():
            raise AirflowFailException(message)
