"""The provider's DAGs, built by factories so that a deployment's DAG files stay a few lines long.

A DAG file in the deployment's DAGs folder only calls a factory; upgrading the provider upgrades
the DAG::

    from airflow_gitsync.dags import backup_dag

    dag = backup_dag()  # or backup_dag(dag_id="...", params={"workspace_root": "/Clients/2024"})
"""

from airflow_gitsync.dags.backup import backup_dag
from airflow_gitsync.dags.restore import restore_dag
from airflow_gitsync.dags.verify import verify_dag

__all__ = ["backup_dag", "restore_dag", "verify_dag"]
