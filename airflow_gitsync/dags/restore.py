"""
### Git backup → Databricks notebooks (restore)

Writes a backup made by `databricks_git_backup` back into the workspace: the notebooks and files
of the tag (`backup/2026-11-02`), branch or commit `ref`, as its committed manifest describes them
(path, notebook language, blob id). Manual only: trigger it with the params form.

- **paths**: repo paths of folders or files to restore (`2024/ENG-101`,
  `2024/ENG-101/NOTEBOOKS/etl.py`); empty: everything.
- **target_root**: write below this folder instead of the original paths
  (`/Restored/2026-11-02` receives `/Restored/2026-11-02/2024/ENG-101/NOTEBOOKS/etl`).
- **overwrite**: off, an object that already exists is left alone and reported as failed
  (`RESOURCE_ALREADY_EXISTS`); on, it is replaced.
- **dry_run**: list what would be written, write nothing.

The task fails when any object was not restored; the `restore` task's log and its XCom list each
one with its reason. Restore only writes: it never deletes objects that are not in the backup. It
writes a manifest line only to a normalised path below `target_root` (or the backup's root) that
the line's repo path was backed up from; any other line (`..`, another root, a path that does not
match its repo path) is refused and listed, and the rest is restored.
Deployment settings (rate limits, mirror cache) come from the `[gitsync]` Airflow config section.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from airflow.sdk import DAG, task

from airflow_gitsync.airflow_compat import AirflowFailException
from airflow_gitsync.config import GitsyncConfig
from airflow_gitsync.dags.common import dag_arguments, failing_fast
from airflow_gitsync.params import RESTORE_PARAMS
from airflow_gitsync.results import to_xcom
from airflow_gitsync.tasks import restore as restore_tasks

log = logging.getLogger(__name__)


def restore_dag(
    dag_id: str = "databricks_git_restore", params: Mapping[str, Any] | None = None, **dag_kwargs: Any
) -> DAG:
    """The restore DAG (manual only): one ``restore`` task.

    :param params: new defaults for the trigger form's params.
    :param dag_kwargs: any other ``DAG`` argument.
    """
    config = GitsyncConfig.load()
    kwargs = dag_arguments(
        config, RESTORE_PARAMS, params, schedule=None, doc_md=__doc__, tag="restore", dag_kwargs=dag_kwargs
    )

    with DAG(dag_id, **kwargs) as dag:
        # No retries: a second attempt would find what the first restored and, without overwrite, fail on it.
        @task(task_id="restore", retries=0)
        def run_restore(params=None, ti=None) -> None:
            """Plan from the manifest at the ref, verify each blob, create folders, import; fail on any
            failure.

            The result (counts, failed paths with reasons, a dry run's paths) is the XCom ``result``."""
            with failing_fast():
                result = restore_tasks.restore(params)
            summary = result.summary()
            log.info("%s", summary)
            ti.xcom_push(key="result", value=to_xcom(result))
            if result.failed:
                raise AirflowFailException(summary.splitlines()[0])

        run_restore()
    return dag
