"""Is the backup right? Weekly (and manual); the DAG is built by the airflow-gitsync provider."""

from airflow_gitsync.dags import verify_dag

dag = verify_dag()
