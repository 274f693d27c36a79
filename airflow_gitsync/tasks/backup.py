"""The backup DAG's task callables (:mod:`airflow_gitsync.dags.backup` moves their records through
XCom): prepare, scan, plan, export, commit, and the staging store's records and sweep."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from functools import partial

from airflow_gitsync import retention
from airflow_gitsync.compat import UTC
from airflow_gitsync.config import GitsyncConfig
from airflow_gitsync.diff import EngagementChanges, check_root, plan_exports
from airflow_gitsync.errors import NotFoundError, WorkspaceError
from airflow_gitsync.git.packs import PackWriter
from airflow_gitsync.layout import safe_name, year_of
from airflow_gitsync.manifest import ManifestEntry, ManifestError, load_manifest
from airflow_gitsync.params import BackupSettings, SettingsError
from airflow_gitsync.repositories import Branches, RunInfo, commit_repositories, open_repositories
from airflow_gitsync.results import (
    CommitResult,
    ExportTask,
    ExportTaskResult,
    PlannedEngagement,
    PlanResult,
    PrepareResult,
    RepoState,
    YearSlice,
    from_xcom,
    to_xcom,
)
from airflow_gitsync.shards import shard_of
from airflow_gitsync.staging import StagingCorruptError, StagingStore
from airflow_gitsync.tasks.context import RunContext
from airflow_gitsync.workspace.client import merged_stats
from airflow_gitsync.workspace.export import ExportResult, export_engagement, export_engagements
from airflow_gitsync.workspace.progress import Progress
from airflow_gitsync.workspace.scan import ScanResult, list_years, scan_year

log = logging.getLogger(__name__)


def _stage_pack(staging: StagingStore, pack: PackWriter) -> str | None:
    """Stage what the task exported as one pack; its name (None: nothing exported)."""
    data = pack.finish()
    if data is None:
        return None
    name = staging.put_pack(data)
    log.info(
        "staged pack %s: %d blobs, %.1f MiB (%.1f MiB uncompressed)",
        name, len(pack), len(data) / 2**20, pack.raw_bytes / 2**20,
    )  # fmt: skip
    return name


def _repo_name(year: str) -> str:
    return safe_name(year, top_level=True) if year else ""


def prepare(params: Mapping) -> PrepareResult:
    """Validate params, list the year folders, open the repositories (:mod:`airflow_gitsync.repositories`:
    refresh the git mirrors, read the manifests) and hand each year its slice."""
    run = RunContext.of(BackupSettings, params)
    settings = run.settings
    hook = run.git_hook()
    where = Branches(run.config.cache_dir, settings.branch, settings.working_branch)

    def years_listed() -> list[str]:
        with run.workspace_client() as client:
            try:
                listed = list_years(client, settings.workspace_root)
            except NotFoundError:
                raise SettingsError(
                    f"workspace_root {settings.workspace_root!r}: no such folder in the workspace"
                ) from None
        return listed

    # One repository: the workspace is listed beside the git fetch and the manifest's split (0.2 s
    # of 1 s). A repository per year: the listing names the repositories to open.
    with ThreadPoolExecutor(1, thread_name_prefix="list-years") as pool:
        listing = pool.submit(years_listed)
        covered = settings.years or (listing.result() if hook.sharded else [])
        shards = {shard_of(_repo_name(y)) for y in covered}
        opened = open_repositories(hook, where, shards, run.staging, log, every=not settings.years)
        slices, roots = opened.slices(log)
        check_root(roots, settings.workspace_root, settings.allow_root_change)
        listed = listing.result()
    # Slices are keyed by the year's name in the repository, which may be escaped (layout.safe_name).
    # A year only in the manifest is a folder deleted from the workspace: it is scanned too (it
    # lists as empty once the root is confirmed), so that its deletion is committed. The years of a
    # repository that is missing are not scanned (the run is incomplete and says why).
    names = {_repo_name(y): y for y in listed}
    for repo_year in [*slices, *opened.staged_slices]:
        names.setdefault(repo_year, repo_year)
    if settings.years:
        unknown = sorted(set(settings.years) - set(names.values()))
        if unknown:
            raise SettingsError(f"years: {', '.join(unknown)} not found under {settings.workspace_root}")
        names = {r: y for r, y in names.items() if y in settings.years}
    missing = {r.shard for r in opened.repositories if r.state is RepoState.MISSING}
    names = {r: y for r, y in names.items() if not hook.sharded or shard_of(r) not in missing}

    def staged(repo_year: str) -> str | None:
        if repo_year in slices:
            return run.staging.put(slices[repo_year])
        return opened.staged_slices.get(repo_year)

    return PrepareResult(
        capture_time=datetime.now(UTC).isoformat(timespec="seconds"),
        workspace_root=settings.workspace_root,
        years=[
            YearSlice(year, repo_year, staged(repo_year))
            for repo_year, year in sorted(names.items(), key=lambda item: item[1])
        ],
        metrics=run.metrics(),
        repositories=opened.repositories,
        switch_from=opened.switch_from,
    )


def scan(year: YearSlice, params: Mapping) -> tuple[ScanResult, ExportTaskResult]:
    """List one year folder, diff it against its manifest slice, and export each engagement exported
    one object at a time as soon as it is listed (not in a dry run); the rest (folder exports, failed
    exports, failed listings) is left in the scan result for the export tasks.

    Exports go through a second client, so that they never queue behind the listing's requests;
    both draw on the same shared rate limits.
    """
    run = RunContext.of(BackupSettings, params)
    settings = run.settings

    def manifest() -> dict[str, ManifestEntry]:
        if not year.manifest_blob:
            return {}
        try:
            return load_manifest(run.staging.get(year.manifest_blob))
        except ManifestError as exc:  # lines counted within the year's part (diff.split_manifest)
            raise ManifestError(f"the manifest's records of year {year.year!r}: {exc}") from exc

    with run.workspace_client() as client, run.workspace_client() as exporter, PackWriter() as pack:
        progress = Progress("export", None, exporter.stats, log)
        export = partial(export_engagement, exporter, sink=pack, progress=progress)
        result, exported = scan_year(
            client,
            settings.workspace_root,
            year.year,
            manifest,
            full_scan=settings.full_scan,
            repo_year=year.repo_year,
            export=None if settings.dry_run else export,
            folder_rule=run.config.folder_rule(),
        )
        if exported:
            progress.finish()
        api = merged_stats(client, exporter)
        staged = _stage_pack(run.staging, pack)
    label = f"scan[{year.year or '(root)'}]"
    return result, ExportTaskResult(exported, api, run.metrics(), label, staged)


def plan(years: Sequence[YearSlice], scans: Sequence[ScanResult], max_map_length: int) -> PlanResult:
    """Group the engagements that need exporting into export tasks; name the years that did not finish.

    A task gets only a reference to its change lists, which go through the staging store: a mapped
    task instance reads the whole list it is mapped over, so mapping over the change lists
    themselves would cost every task seconds.
    """
    config = GitsyncConfig.load()
    engagements = [e for s in scans for e in s.engagements if e.has_work]
    groups = plan_exports(engagements, config.export_task_calls, max_map_length, config.folder_rule())
    staging = config.staging()
    scanned = {s.year for s in scans}
    return PlanResult(
        engagements=[PlannedEngagement(e.engagement, e.size, e.failed) for e in engagements],
        export_tasks=[
            ExportTask(label, staging.put(json.dumps(to_xcom(group)).encode())) for label, group in groups
        ],
        missing_years=sorted(y.year for y in years if y.year not in scanned),
    )


def _listing_failure(engagement: EngagementChanges) -> WorkspaceError | None:
    failures = engagement.listing_failures
    if not failures:
        return None
    return WorkspaceError(
        f"engagement {engagement.engagement!r} was not listed completely ({failures[0].path}: "
        f"{failures[0].reason}); nothing of it is changed. Clear scan[{year_of(engagement.engagement)}] "
        "with downstream to list it again."
    )


def _dry_run(changes: EngagementChanges) -> ExportResult:
    """What exporting ``changes`` would do, counted from the scan: nothing is exported or staged."""
    added = sum(o.reason == "added" for o in changes.to_export)
    return ExportResult(
        changes.engagement,
        deletions=list(changes.deleted),
        added=added,
        modified=len(changes.to_export) - added,
        failed=list(changes.failed),
    )


def export(task: ExportTask, params: Mapping) -> tuple[ExportTaskResult, list[WorkspaceError]]:
    """Export the changed notebooks of one task's engagements into the staging store.

    Returns the result of every engagement that succeeded (with the task's API counters and
    metrics) and the errors of the engagements that failed (a listing that failed, or objects still
    failing after their retry budget); authentication errors and rate limiting beyond the budget
    raise at once.
    """
    run = RunContext.of(BackupSettings, params)
    engagements = from_xcom(list[EngagementChanges], json.loads(run.staging.get(task.changes_blob)))
    label = f"export[{task.label}]"
    if run.settings.dry_run:
        return ExportTaskResult([_dry_run(e) for e in engagements], {}, run.metrics(), label), []
    errors: list[WorkspaceError] = []
    listed = []
    for engagement in engagements:
        if error := _listing_failure(engagement):
            errors.append(error)
        else:
            listed.append(engagement)
    with run.workspace_client() as client, PackWriter() as pack:
        results, failed = export_engagements(client, listed, pack, run.config.folder_rule())
        api = client.stats()
        staged = _stage_pack(run.staging, pack)
    errors += failed
    return ExportTaskResult(results, api, run.metrics(), label, staged), errors


def commit(
    prepared: PrepareResult,
    planned: PlanResult,
    exported: Sequence[ExportTaskResult],
    params: Mapping,
    run_id: str,
    logical_date: datetime,
) -> CommitResult:
    """Gather the run's staged packs into the mirror (:mod:`airflow_gitsync.gather`), commit what they
    hold, push, merge into the main branch; tag a complete run.

    A task whose pack could not be gathered is left out like a failed export (the run is not tagged),
    and once the rest is pushed the commit fails, naming the task to clear.
    """
    run = RunContext.of(BackupSettings, params)
    settings = run.settings
    committed = commit_repositories(
        run.git_hook(),
        Branches(run.config.cache_dir, settings.branch, settings.working_branch),
        prepared,
        planned,
        exported,
        run.staging,
        RunInfo(run_id, logical_date, prepared.capture_time, settings.years, settings.tag_for(logical_date)),
        batch_size=settings.commit_batch_size,
        dry_run=settings.dry_run,
        archive_after_days=run.config.archive_after_days,
        log=log,
    )
    if committed.gather_failures:
        raise StagingCorruptError(
            f"{len(committed.gather_failures)} task(s) staged no sound pack; the rest is committed "
            f"({committed.git.head or 'nothing new'}), untagged:\n" + "\n".join(committed.gather_failures)
        )
    if not committed.complete:
        log.warning(
            "Run incomplete, not tagging: engagements %s, years %s, repositories %s",
            committed.missing, planned.missing_years,
            [r.shard for r in committed.repositories if r.state is RepoState.MISSING],
        )  # fmt: skip
    return CommitResult(
        committed.git, committed.complete, committed.missing, run.metrics(), committed.repositories
    )


def record_run(record: retention.RunRecord, params: Mapping) -> None:
    """Record what the run staged (:mod:`airflow_gitsync.retention`). Not in a dry run: it commits
    nothing, so it must not supersede an unfinished run."""
    run = RunContext.of(BackupSettings, params)
    if (record.blobs or record.packs) and not run.settings.dry_run:
        retention.record_run(run.staging, record)


def clean_staging(params: Mapping, now: datetime) -> retention.RetentionResult | None:
    """Remove the staged objects no run needs any more (:mod:`airflow_gitsync.retention`), once the
    run's commit has succeeded and recorded it. None in a dry run, which sweeps nothing."""
    run = RunContext.of(BackupSettings, params)
    if run.settings.dry_run:
        log.info("a dry run: the staging store is neither recorded in nor swept")
        return None
    days = run.config.staging_retention_days
    result = retention.sweep(run.staging, now, days)
    log.info("%s", result.summary(days))
    return result
