"""Git backup → Databricks notebooks (manual); the DAG is built by the airflow-gitsync provider."""

from airflow_gitsync.dags import restore_dag

dag = restore_dag()
