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
import random
import time
from collections.abc import Mapping
from typing import Any

from airflow.sdk import DAG, TriggerRule, get_current_context, task

from airflow_gitsync.config import GitsyncConfig
from airflow_gitsync.dags.common import dag_arguments, failing_fast, network_retries
from airflow_gitsync.errors import NotFoundError
from airflow_gitsync.git.mirror import Mirror
from airflow_gitsync.hooks.azure_devops_git import AzureDevOpsGitHook
from airflow_gitsync.hooks.databricks_workspace import DatabricksWorkspaceHook
from airflow_gitsync.manifest import MANIFEST_PATH, ManifestEntry, load_manifest
from airflow_gitsync.operators.report import VerifyReportOperator
from airflow_gitsync.params import VERIFY_PARAMS, SettingsError, VerifySettings
from airflow_gitsync.restore import RestoreError, backup_root, resolve_ref
from airflow_gitsync.results import TaskId, TaskMetrics, XComKey, from_xcom, pull, to_xcom
from airflow_gitsync.verify import (
    FULL,
    Sample,
    VerifyPlan,
    YearToVerify,
    backup_problems,
    repo_year,
    verify_year,
    years_to_verify,
)
from airflow_gitsync.workspace.client import WorkspaceClient
from airflow_gitsync.workspace.scan import list_years

log = logging.getLogger(__name__)
WEEKLY = "0 4 * * 0"  # Sundays 04:00 UTC, after the daily backup


def _mirror(settings: VerifySettings, config: GitsyncConfig) -> Mirror:
    return AzureDevOpsGitHook(azure_devops_git_conn_id=settings.git_conn_id).get_mirror(config.cache_dir)


def _client(settings: VerifySettings, config: GitsyncConfig) -> WorkspaceClient:
    hook = DatabricksWorkspaceHook(databricks_conn_id=settings.databricks_conn_id)
    return hook.get_client(**config.client_options())


def _manifest(mirror: Mirror, commit: str, ref: str) -> dict[str, ManifestEntry]:
    data = mirror.read_file(commit, MANIFEST_PATH)
    if data is None:
        raise SettingsError(f"ref {ref!r} ({commit}) has no {MANIFEST_PATH}: not a backup commit")
    return load_manifest(data)


def plan_verify(settings: VerifySettings, config: GitsyncConfig) -> VerifyPlan:
    """Refresh the mirror, find the backup to compare with, check its tree against its manifest and
    list the workspace's years."""
    mirror = _mirror(settings, config)
    with mirror.lock("a verify"):
        mirror.sync()
        ref = settings.ref or mirror.newest_tag(settings.tag_prefix)
        if ref is None:
            raise SettingsError(
                f"ref: no tag starts with {settings.tag_prefix!r}; run a backup, or give a ref"
            )
        try:
            commit = resolve_ref(mirror, ref)
        except RestoreError as exc:
            raise SettingsError(str(exc)) from None
        manifest = _manifest(mirror, commit, ref)
        tree = mirror.ls_tree(commit)
    problems, problem_count = backup_problems(manifest, tree)
    made_from = backup_root(manifest.values())
    root = settings.workspace_root or made_from
    if root is None:
        raise SettingsError(f"workspace_root: {ref} holds no objects; give the folder to compare")
    with _client(settings, config) as client:
        try:
            listed = list_years(client, root)
        except NotFoundError:
            raise SettingsError(f"workspace_root {root!r}: no such folder in the workspace") from None
    seed = settings.seed if settings.seed is not None else random.SystemRandom().randrange(2**31)
    share = 1.0 if settings.mode == FULL else config.verify_sample_percent / 100
    return VerifyPlan(
        ref=ref,
        commit=commit,
        backup_root=made_from or root,
        root=root,
        mode=settings.mode,
        sample=Sample(share, seed),
        years=years_to_verify(listed, manifest.values()),
        backup_problems=problems,
        backup_problem_count=problem_count,
    )


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
                plan = plan_verify(VerifySettings.from_params(params), GitsyncConfig.load())
            log.info(
                "verifying %s against %s (%s), mode %s, sample share %g, seed %d",
                plan.root, plan.ref, plan.commit, plan.mode, plan.sample.share, plan.sample.seed,
            )  # fmt: skip
            ti.xcom_push(key=XComKey.RUN, value=to_xcom(plan))
            return [to_xcom(year) for year in plan.years]

        @task(map_index_template="{{ year_label }}", max_active_tis_per_dag=config.parallel_tasks, **network)
        def check(year: dict, params=None, ti=None) -> dict:
            """List one year, compare it with the backup's manifest, export the sample and compare blobs."""
            started = time.monotonic()
            work = from_xcom(YearToVerify, year)
            get_current_context()["year_label"] = work.year or "(root)"
            plan = pull(ti, VerifyPlan, TaskId.PREPARE, XComKey.RUN)
            with failing_fast():
                settings, config = VerifySettings.from_params(params), GitsyncConfig.load()
                mirror = _mirror(settings, config)
                with mirror.lock("a verify"):
                    if mirror.resolve(plan.commit) is None:
                        mirror.sync()
                    manifest = _manifest(mirror, plan.commit, plan.ref)
                entries = {p: e for p, e in manifest.items() if repo_year(e) == work.repo_year}
                with _client(settings, config) as client:
                    result = verify_year(client, plan, work, entries)
                    result.api = client.stats()
            result.metrics = TaskMetrics.since(started)
            return to_xcom(result)

        years = prepare()
        checked = check.expand(year=years)
        report = VerifyReportOperator(task_id=TaskId.REPORT, trigger_rule=TriggerRule.ALL_DONE)
        [years, checked] >> report
    return dag
