"""The restore DAG's task callable (:mod:`airflow_gitsync.dags.restore`)."""

from __future__ import annotations

from collections.abc import Mapping

from airflow_gitsync.params import RestoreSettings
from airflow_gitsync.repositories import MAIN_BRANCH, read_sources
from airflow_gitsync.restore import RestoreResult, plan_restore
from airflow_gitsync.restore import restore as restore_plan
from airflow_gitsync.tasks.context import RunContext


def restore(params: Mapping | None) -> RestoreResult:
    """Plan from the manifest at the ref, verify each blob, create folders, import (or list them, in a
    dry run); with a repository per year, from each repository that holds the paths
    (:func:`~airflow_gitsync.repositories.read_sources`). Each mirror is held until its last blob is
    read: a backup's fetch, push or repack waits meanwhile."""
    run = RunContext.of(RestoreSettings, params)
    settings = run.settings
    hook = run.git_hook()
    results = []
    for source in read_sources(hook, settings.ref, settings.paths, branch=MAIN_BRANCH):
        mirror = hook.get_mirror(run.config.cache_dir, source.url)
        with mirror.lock("a restore"):
            mirror.sync()
            plan = plan_restore(mirror, source.ref, source.paths, settings.target_root)
            with run.workspace_client() as client:
                results.append(
                    restore_plan(client, mirror, plan, overwrite=settings.overwrite, dry_run=settings.dry_run)
                )
    return RestoreResult.merged(results)
