"""The DAG files and factories: what parsing them costs every task process, what every task carries."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import pytest

DAGS = Path(__file__).resolve().parents[2] / "dags"


def test_parsing_the_backup_dag_imports_no_hook_and_no_other_dag(airflow_process):
    """Every task process parses its DAG file; the hooks (and the Databricks and Azure providers under
    them), GitPython and azure-identity are imported only by the tasks that use them, the restore and
    verify DAGs not at all, and Airflow's serialization encoders (which its cron timetables import to
    compare themselves) not by the parse."""
    imported = set(airflow_process["backup_dag_imports"].split())
    assert "airflow_gitsync.dags.backup" in imported
    assert not imported & {
        "git",
        "azure.identity",
        "airflow.serialization.encoders",
        "airflow_gitsync.dags.restore",
        "airflow_gitsync.dags.verify",
        "airflow_gitsync.hooks.databricks_workspace",
        "airflow_gitsync.hooks.azure_devops_git",
    }
    # Airflow itself reads every provider's info when it loads its configuration; no hook is imported.
    assert not [m for m in imported if m.startswith("airflow.providers.") and ".hooks" in m]


@pytest.mark.parametrize("dag_file", sorted(p.name for p in DAGS.glob("*.py")))
def test_a_task_process_logs_the_azure_sdk_s_http_traffic_only_from_warnings_on(airflow_process, dag_file):
    """Issue 26: on abfs:// every XCom pull wrote the request's and answer's headers at INFO."""
    assert airflow_process["http_log_level_before"] == logging.NOTSET
    assert airflow_process[f"http_log_level:{dag_file}"].split()[-1] == str(logging.WARNING)


def test_the_dag_factories_are_importable_by_name():
    from airflow_gitsync import dags

    assert {dags.backup_dag.__name__, dags.restore_dag.__name__, dags.verify_dag.__name__} == set(
        dags.__all__
    )
    with pytest.raises(AttributeError, match="no_such_dag"):
        dags.no_such_dag  # noqa: B018


def test_every_task_of_every_dag_has_the_task_timeout_unless_the_user_sets_one(monkeypatch):
    """``[gitsync] task_timeout_hours`` is every task's execution_timeout; a DAG's own default_args win."""
    from airflow_gitsync.dags import backup_dag, restore_dag, verify_dag

    monkeypatch.setenv("AIRFLOW__GITSYNC__TASK_TIMEOUT_HOURS", "2.5")
    for dag in (backup_dag(), restore_dag(), verify_dag()):
        assert dag.tasks and {t.execution_timeout for t in dag.tasks} == {timedelta(hours=2.5)}, dag.dag_id
    own = {"execution_timeout": timedelta(minutes=5), "owner": "data-platform"}
    for defaults, timeout in [
        (own, timedelta(minutes=5)),
        ({"owner": "data-platform"}, timedelta(hours=2.5)),
    ]:
        dag = backup_dag(dag_id="mine", default_args=defaults)
        assert {(t.execution_timeout, t.owner) for t in dag.tasks} == {(timeout, "data-platform")}
