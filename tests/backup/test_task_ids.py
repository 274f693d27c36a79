"""The task ids other tasks and the Backups view pull from are the DAGs' own (results.TaskId)."""

from airflow_gitsync.results import EXPORTING_TASKS, TaskId


def test_every_pulled_task_id_is_a_task_of_its_dag():
    from airflow_gitsync.dags import backup_dag, verify_dag

    backup, verify = set(backup_dag().task_ids), set(verify_dag().task_ids)
    assert set(TaskId) - {TaskId.CHECK} <= backup
    assert {TaskId.PREPARE, TaskId.CHECK, TaskId.REPORT} <= verify
    assert set(EXPORTING_TASKS) <= backup
