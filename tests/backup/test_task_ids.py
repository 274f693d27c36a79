"""The DAGs as other tasks and the Backups view rely on: task ids (results.TaskId), retries."""

from airflow_gitsync.results import EXPORTING_TASKS, TaskId


def test_every_pulled_task_id_is_a_task_of_its_dag():
    from airflow_gitsync.dags import backup_dag, verify_dag

    backup, verify = set(backup_dag().task_ids), set(verify_dag().task_ids)
    assert set(TaskId) - {TaskId.CHECK} <= backup
    assert {TaskId.PREPARE, TaskId.CHECK, TaskId.REPORT} <= verify
    assert set(EXPORTING_TASKS) <= backup


def test_the_backup_and_verify_tasks_retry_alike():
    """Verify once had its own retry arguments, without the 10 min cap on the backoff."""
    from datetime import timedelta

    from airflow_gitsync.dags import backup_dag, verify_dag

    expected = (timedelta(seconds=30), timedelta(minutes=10))
    dags = backup_dag(), verify_dag()
    networked = {t.task_id for d in dags for t in d.tasks if t.retry_exponential_backoff}
    assert networked >= {TaskId.SCAN, TaskId.COMMIT, TaskId.CHECK}
    for dag in dags:
        for task in dag.tasks:
            if task.retry_exponential_backoff:  # the tasks that talk to the workspace or the remote
                assert (task.retry_delay, task.max_retry_delay) == expected, (dag.dag_id, task.task_id)
