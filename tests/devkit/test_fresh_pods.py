"""The devkit's fresh pods: each Celery task gets an empty ``cache_dir`` of its own, gone after it."""

from __future__ import annotations

import os
from pathlib import Path

from celery.signals import task_postrun, task_prerun

VARIABLE = "AIRFLOW__GITSYNC__CACHE_DIR"


def test_each_task_starts_with_an_empty_cache_dir_of_its_own_and_leaves_nothing(tmp_path, monkeypatch):
    worker = tmp_path / "worker"
    monkeypatch.setenv(VARIABLE, str(worker))  # the worker's own, read when the module is imported
    from gitsync_devkit import fresh_pods

    monkeypatch.setattr(fresh_pods, "ROOT", str(worker))
    seen = []
    for _ in range(2):
        task_prerun.send(sender=None)
        cache = Path(os.environ[VARIABLE])
        assert cache.parent == worker and cache.is_dir() and not any(cache.iterdir())
        (cache / "mirrors").mkdir()  # what the task leaves
        seen.append(cache)
        task_postrun.send(sender=None)
        assert not cache.exists()
    assert seen[0] != seen[1]
    assert not any(worker.iterdir())
