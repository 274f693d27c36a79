"""Celery workers that run every task as the KubernetesExecutor does, in what amounts to a new pod: with
an empty ``[gitsync] cache_dir`` of its own (no git mirror, no rate-limit files), gone when it ends.

A worker loads this module through ``[celery] celery_config_options`` =
``gitsync_devkit.fresh_pods.CELERY_CONFIG`` (Airflow's default Celery configuration, unchanged). Before
each task, the pool process that runs it points ``AIRFLOW__GITSYNC__CACHE_DIR`` at a new empty folder
under the worker's own ``cache_dir``; the task's supervisor and task process inherit it, and the folder
is removed after the task. Each pool process runs one task at a time and each task has its own folder, so
no task ever sees another's mirror or bucket files, whatever the worker's concurrency.
"""

from __future__ import annotations

import os
import shutil
import tempfile

from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG
from celery.signals import task_postrun, task_prerun

CELERY_CONFIG = DEFAULT_CELERY_CONFIG
VARIABLE = "AIRFLOW__GITSYNC__CACHE_DIR"
ROOT = os.environ[VARIABLE]  # the worker's own cache_dir, read when the worker starts


@task_prerun.connect
def _new_pod(**_) -> None:
    os.makedirs(ROOT, exist_ok=True)
    os.environ[VARIABLE] = tempfile.mkdtemp(prefix="pod-", dir=ROOT)


@task_postrun.connect
def _pod_gone(**_) -> None:
    shutil.rmtree(os.environ.pop(VARIABLE, ""), ignore_errors=True)
