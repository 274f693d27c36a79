"""The provider's DAGs, built by factories so that a deployment's DAG files stay a few lines long.

A DAG file in the deployment's DAGs folder only calls a factory; upgrading the provider upgrades
the DAG::

    from airflow_gitsync.dags import backup_dag

    dag = backup_dag()  # or backup_dag(dag_id="...", params={"workspace_root": "/Clients/2024"})

Each factory's module is imported when its name is first asked for: every task process parses its
DAG file, and the restore and verify DAGs import both hooks (the Databricks and Azure providers),
which a backup task that needs neither would otherwise pay on every start.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_gitsync.dags.backup import backup_dag
    from airflow_gitsync.dags.restore import restore_dag
    from airflow_gitsync.dags.verify import verify_dag

__all__ = ["backup_dag", "restore_dag", "verify_dag"]


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{name.removesuffix('_dag')}"), name)
