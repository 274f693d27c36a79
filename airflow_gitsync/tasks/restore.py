"""The restore DAG's task callable (:mod:`airflow_gitsync.dags.restore`)."""

from __future__ import annotations

from collections.abc import Mapping

from airflow_gitsync.params import RestoreSettings
from airflow_gitsync.restore import RestoreResult, plan_restore
from airflow_gitsync.restore import restore as restore_plan
from airflow_gitsync.tasks.context import RunContext


def restore(params: Mapping | None) -> RestoreResult:
    """Plan from the manifest at the ref, verify each blob, create folders, import (or list them, in a
    dry run). The mirror is held until the last blob is read: a backup's fetch, push or repack waits
    meanwhile."""
    run = RunContext.of(RestoreSettings, params)
    settings = run.settings
    mirror = run.mirror()
    with mirror.lock("a restore"):
        mirror.sync()
        plan = plan_restore(mirror, settings.ref, settings.paths, settings.target_root)
        with run.workspace_client() as client:
            return restore_plan(client, mirror, plan, overwrite=settings.overwrite, dry_run=settings.dry_run)
