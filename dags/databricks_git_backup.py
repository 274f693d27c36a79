"""Databricks notebooks → Git backup, daily; the DAG is built by the airflow-gitsync provider."""

from airflow_gitsync.dags import backup_dag

dag = backup_dag()
