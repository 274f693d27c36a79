"""The verify DAG's task callables (:mod:`airflow_gitsync.dags.verify` moves their records through
XCom): plan the verify, check one year."""

from __future__ import annotations

import random
from collections.abc import Mapping

from airflow_gitsync.errors import NotFoundError
from airflow_gitsync.git.mirror import Mirror
from airflow_gitsync.manifest import MANIFEST_PATH, ManifestEntry, load_manifest
from airflow_gitsync.params import SettingsError, VerifySettings
from airflow_gitsync.restore import RestoreError, backup_root, resolve_ref
from airflow_gitsync.results import CheckTaskResult
from airflow_gitsync.tasks.context import RunContext
from airflow_gitsync.verify import (
    FULL,
    Sample,
    VerifyPlan,
    YearToVerify,
    backup_problems,
    repo_year,
    verify_year,
    years_to_verify,
)
from airflow_gitsync.workspace.scan import list_years


def _manifest(mirror: Mirror, commit: str, ref: str) -> dict[str, ManifestEntry]:
    data = mirror.read_file(commit, MANIFEST_PATH)
    if data is None:
        raise SettingsError(f"ref {ref!r} ({commit}) has no {MANIFEST_PATH}: not a backup commit")
    return load_manifest(data)


def prepare(params: Mapping | None) -> VerifyPlan:
    """Refresh the mirror, find the backup to compare with, check its tree against its manifest and
    list the workspace's years."""
    run = RunContext.of(VerifySettings, params)
    settings = run.settings
    mirror = run.mirror()
    with mirror.lock("a verify"):
        mirror.sync()
        ref = settings.ref or mirror.newest_tag(settings.tag_prefix)
        if ref is None:
            raise SettingsError(
                f"ref: no tag starts with {settings.tag_prefix!r}; run a backup, or give a ref"
            )
        try:
            commit = resolve_ref(mirror, ref)
        except RestoreError as exc:
            raise SettingsError(str(exc)) from None
        manifest = _manifest(mirror, commit, ref)
        tree = mirror.ls_tree(commit)
    problems, problem_count = backup_problems(manifest, tree)
    made_from = backup_root(manifest.values())
    root = settings.workspace_root or made_from
    if root is None:
        raise SettingsError(f"workspace_root: {ref} holds no objects; give the folder to compare")
    with run.workspace_client() as client:
        try:
            listed = list_years(client, root)
        except NotFoundError:
            raise SettingsError(f"workspace_root {root!r}: no such folder in the workspace") from None
    seed = settings.seed if settings.seed is not None else random.SystemRandom().randrange(2**31)
    share = 1.0 if settings.mode == FULL else run.config.verify_sample_percent / 100
    return VerifyPlan(
        ref=ref,
        commit=commit,
        backup_root=made_from or root,
        root=root,
        mode=settings.mode,
        sample=Sample(share, seed),
        years=years_to_verify(listed, manifest.values()),
        backup_problems=problems,
        backup_problem_count=problem_count,
    )


def check(work: YearToVerify, plan: VerifyPlan, params: Mapping | None) -> CheckTaskResult:
    """List one year, compare it with the backup's manifest, export the sample and compare blobs."""
    run = RunContext.of(VerifySettings, params)
    mirror = run.mirror()
    with mirror.lock("a verify"):
        if mirror.resolve(plan.commit) is None:
            mirror.sync()
        manifest = _manifest(mirror, plan.commit, plan.ref)
    entries = {p: e for p, e in manifest.items() if repo_year(e) == work.repo_year}
    with run.workspace_client() as client:
        year_check = verify_year(client, plan, work, entries)
        api = client.stats()
    return CheckTaskResult(year_check, api, run.metrics())
