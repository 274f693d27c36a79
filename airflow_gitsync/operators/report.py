"""The run's last task: sums up what every task returned, shows it, and fails an incomplete run."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException
from airflow.sdk.observability.stats import Stats

from airflow_gitsync.report import build_summary, metrics, render_markdown


def _results(ti: Any, task_id: str, key: str = "return_value") -> list:
    """Every XCom the (possibly mapped) task pushed under ``key``; failed instances may have pushed none."""
    return [value for value in ti.xcom_pull(task_ids=[task_id], key=key) or [] if value is not None]


class BackupReportOperator(BaseOperator):
    """Summarise a backup run in the task log, XCom (key ``summary``), the UI and metrics; fail when
    it is incomplete.

    The markdown summary is shown in the UI as this task's rendered ``report_md`` field. Counters and
    per-phase durations go to Airflow's ``Stats`` under ``gitsync.``. The task fails (without retry)
    when any scan unit, engagement or notebook did not make it into the backup, so the run ends
    failed and the DAG's ``on_failure_callback`` notifiers fire.

    :param task_ids: ids of the ``prepare``, ``scan``, ``plan``, ``export`` and ``commit`` tasks.
    """

    template_fields: Sequence[str] = ("report_md",)
    template_fields_renderers = {"report_md": "md"}
    overwrite_rtif_after_execution = True
    ui_color = "#e8f4ea"

    def __init__(self, *, task_ids: dict[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.task_ids = {
            "prepare": "prepare",
            "scan": "scan",
            "plan": "plan",
            "export": "export",
            "commit": "commit",
        } | (task_ids or {})
        self.report_md = "(the summary appears here once the run has finished)"

    def execute(self, context: Any) -> None:
        ti = context["ti"]
        ids = self.task_ids
        run = ti.xcom_pull(task_ids=ids["prepare"], key="run")
        prepared = run and run | {"units": ti.xcom_pull(task_ids=ids["prepare"])}
        planned = ti.xcom_pull(task_ids=ids["plan"], key="engagements")
        summary = build_summary(
            prepared=prepared,
            scans=_results(ti, ids["scan"]),
            planned=planned,
            exports=[r for results in _results(ti, ids["export"], "results") for r in results],
            export_tasks=_results(ti, ids["export"], "stats"),
            committed=next(iter(_results(ti, ids["commit"])), None),
        )
        if prepared and planned is None:
            summary.complete = False
            summary.failures.append(("(plan)", "the plan task did not finish"))
        day = (context.get("logical_date") or context["dag_run"].run_after).date().isoformat()
        self.report_md = render_markdown(summary, f"Databricks backup {day} ({context['run_id']})")
        self.log.info("Backup summary:\n%s", self.report_md)
        for name, value in metrics(summary).items():
            Stats.gauge(f"gitsync.{name}", value, tags={"dag_id": self.dag_id})
        ti.xcom_push(key="summary", value=summary.to_dict())
        if not summary.complete or summary.failures:
            raise AirflowFailException(
                f"backup incomplete: {len(summary.failures)} failures, first: "
                + "; ".join(f"{p}: {r}" for p, r in summary.failures[:3])
            )
