"""
### Is the backup right? (verify)

Compares the workspace with the newest backup tag and reports the drift, per year and engagement:

- **by listing**: objects the backup lacks, backed-up objects no longer in the workspace, objects
  whose `modified_at` moved since (each with what the next backup run does about it);
- **by content**: a fresh export of each object, its git blob id against the backup's. `mode`
  `sample` checks a seeded random share (`[gitsync] verify_sample_percent`; the seed is in the
  summary, give it as `seed` to check the same objects again), `full` every object.

Content that changed while its `modified_at` did not is drift no daily backup sees: the run fails
naming the objects; a backup run with `full_scan` heals it. An object over Databricks' 10 MB export
limit (found by exporting it: those listed as new are exported too) is drift no backup heals: the run
fails naming it. Anything that could not be verified fails the run too. Other listing drift does
not: the next backup heals it.

The backup commit is checked against its own manifest too (one `git ls-tree -r`, no blob read): a
line whose file is missing or holds other bytes, a line restore would refuse, a file the manifest
does not list (other than `README.md`, `.gitattributes`, `.gitsync/`). Any of them fails the run,
each named (the first 50, the rest counted): a restore of that commit fails there.

It writes nothing to the workspace or the repository. With `workspace_root` it compares another
folder (a restored copy, `/Restored/2026-11-02`) by presence and content. The summary is the
`report` task's rendered `report_md`, its log and its XCom `summary`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from airflow.sdk import DAG, TriggerRule, get_current_context, task

from airflow_gitsync.config import GitsyncConfig
from airflow_gitsync.dags.common import dag_arguments, failing_fast, network_retries
from airflow_gitsync.operators.report import VerifyReportOperator
from airflow_gitsync.params import VERIFY_PARAMS
from airflow_gitsync.results import TaskId, XComKey, from_xcom, pull, to_xcom
from airflow_gitsync.tasks import verify as verify_tasks
from airflow_gitsync.verify import VerifyPlan, YearToVerify

log = logging.getLogger(__name__)
WEEKLY = "0 4 * * 0"  # Sundays 04:00 UTC, after the daily backup


def verify_dag(
    dag_id: str = "databricks_git_verify",
    schedule: Any = WEEKLY,
    params: Mapping[str, Any] | None = None,
    **dag_kwargs: Any,
) -> DAG:
    """The verify DAG: ``prepare`` → ``check[year]`` → ``report``; weekly, and manual.

    :param schedule: default Sundays at 04:00 UTC.
    :param params: new defaults for the trigger form's params (``{"mode": "full"}``).
    :param dag_kwargs: any other ``DAG`` argument.
    """
    config = GitsyncConfig.load()
    kwargs = dag_arguments(
        config, VERIFY_PARAMS, params, schedule=schedule, doc_md=__doc__, tag="verify", dag_kwargs=dag_kwargs
    )
    network = network_retries(config)

    with DAG(dag_id, **kwargs) as dag:

        @task(**network)
        def prepare(params=None, ti=None) -> list[dict]:
            """Find the newest backup tag, read its manifest, list the years, pick the sample's seed."""
            with failing_fast(ti):
                plan = verify_tasks.prepare(params)
            log.info(
                "verifying %s against %s (%s), mode %s, sample share %g, seed %d",
                plan.root, plan.ref, plan.commit, plan.mode, plan.sample.share, plan.sample.seed,
            )  # fmt: skip
            ti.xcom_push(key=XComKey.RUN, value=to_xcom(plan))
            return [to_xcom(year) for year in plan.years]

        @task(map_index_template="{{ year_label }}", max_active_tis_per_dag=config.parallel_tasks, **network)
        def check(year: dict, params=None, ti=None) -> dict:
            """List one year, compare it with the backup's manifest, export the sample and compare blobs."""
            work = from_xcom(YearToVerify, year)
            get_current_context()["year_label"] = work.year or "(root)"
            plan = pull(ti, VerifyPlan, TaskId.PREPARE, XComKey.RUN)
            with failing_fast():
                return to_xcom(verify_tasks.check(work, plan, params))

        years = prepare()
        checked = check.expand(year=years)
        report = VerifyReportOperator(task_id=TaskId.REPORT, trigger_rule=TriggerRule.ALL_DONE)
        [years, checked] >> report
    return dag
