"""The backup DAG's task callables: thin glue between Airflow and the plain modules.

Each function takes the run's params (and what upstream tasks returned), builds its hook and
client, calls the module that holds the logic, and returns a JSON-safe dict for XCom. Notebook
content never travels in XCom: it goes through the staging store, keyed by git blob id.
"""

from __future__ import annotations

import json
import logging
import resource
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from airflow.sdk import ObjectStoragePath, conf

from airflow_gitsync.changes import EngagementChanges
from airflow_gitsync.git.snapshot import ChangeSet, CommitInfo
from airflow_gitsync.hooks.azure_devops_git import AzureDevOpsGitHook
from airflow_gitsync.hooks.databricks_workspace import DatabricksWorkspaceHook
from airflow_gitsync.layout import partition_of, unit_of
from airflow_gitsync.manifest import ManifestEntry, dump_manifest, load_manifest
from airflow_gitsync.settings import BackupSettings, SettingsError
from airflow_gitsync.staging import StagingStore
from airflow_gitsync.workspace.client import FATAL_ERRORS, WorkspaceError
from airflow_gitsync.workspace.export import ExportResult, export_engagement
from airflow_gitsync.workspace.scan import list_scan_units, scan_unit

log = logging.getLogger(__name__)

SECTION = "gitsync"
ENGAGEMENTS_IN_FLIGHT = 8


@dataclass(frozen=True)
class WorkerConfig:
    """Deployment settings from the ``[gitsync]`` section of the Airflow configuration."""

    staging_url: str
    staging_conn_id: str | None
    cache_dir: Path
    parallel_tasks: int
    rates: dict[str, float]
    max_workers: int
    max_retry_seconds: float
    export_batch_objects: int

    @classmethod
    def load(cls) -> WorkerConfig:
        home = Path(conf.get("core", "airflow_home", fallback="") or "~/airflow").expanduser()
        parallel = conf.getint(SECTION, "parallel_tasks", fallback=4)
        batch_objects = conf.getint(SECTION, "export_batch_objects", fallback=200)
        for name, value in (("parallel_tasks", parallel), ("export_batch_objects", batch_objects)):
            if value < 1:
                raise SettingsError(f"[{SECTION}] {name} = {value}: must be at least 1")
        return cls(
            staging_url=conf.get(SECTION, "staging_url", fallback=f"file://{home}/gitsync/staging"),
            staging_conn_id=conf.get(SECTION, "staging_conn_id", fallback=None) or None,
            cache_dir=Path(conf.get(SECTION, "cache_dir", fallback=f"{home}/gitsync/mirrors")),
            parallel_tasks=parallel,
            rates={
                endpoint: conf.getfloat(SECTION, f"{endpoint}_rps", fallback=default)
                for endpoint, default in (("export", 60.0), ("list", 50.0), ("import", 30.0), ("other", 30.0))
            },
            max_workers=conf.getint(SECTION, "max_workers", fallback=16),
            max_retry_seconds=conf.getfloat(SECTION, "max_retry_seconds", fallback=300.0),
            export_batch_objects=batch_objects,
        )

    def task_rates(self) -> dict[str, float]:
        """Each concurrent task's share of the workspace rate limits, so that together they stay under."""
        return {endpoint: rate / self.parallel_tasks for endpoint, rate in self.rates.items()}

    def staging(self) -> StagingStore:
        return StagingStore(ObjectStoragePath(self.staging_url, conn_id=self.staging_conn_id))


def _workspace_client(settings: BackupSettings, config: WorkerConfig):
    hook = DatabricksWorkspaceHook(databricks_conn_id=settings.databricks_conn_id)
    return hook.get_client(
        rates=config.task_rates(), max_workers=config.max_workers, max_retry_seconds=config.max_retry_seconds
    )


def _engine(settings: BackupSettings, config: WorkerConfig):
    hook = AzureDevOpsGitHook(azure_devops_git_conn_id=settings.git_conn_id)
    return hook.get_engine(
        cache_dir=config.cache_dir, branch=settings.branch, working_branch=settings.working_branch
    )


def _measured(started: float) -> dict:
    """Seconds since ``started`` and the peak RSS of the process (all tasks share one under dags test)."""
    return {
        "seconds": time.monotonic() - started,
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }


def _partition(entry: ManifestEntry) -> str:
    return partition_of(entry.repo_path.split("/"))


def prepare(params: Mapping) -> dict:
    """Validate params, refresh the git mirror, read the manifest and hand each scan unit its slice."""
    started = time.monotonic()
    settings = BackupSettings.from_params(params)
    config = WorkerConfig.load()
    engine = _engine(settings, config)
    engine.sync()
    manifest = engine.read_manifest()
    with _workspace_client(settings, config) as client:
        listed = list_scan_units(client, settings.workspace_root)
    slices: dict[str, list[ManifestEntry]] = defaultdict(list)
    for entry in manifest.values():
        slices[unit_of(_partition(entry))].append(entry)
    # A unit only in the manifest is a folder deleted from the workspace: it is scanned too (it
    # lists as empty once the root is confirmed), so that its deletion is committed.
    units = sorted(set(listed) | set(slices))
    if settings.years:
        unknown = sorted(set(settings.years) - set(units))
        if unknown:
            raise SettingsError(f"years: {', '.join(unknown)} not found under {settings.workspace_root}")
        units = [u for u in units if u in settings.years]
    staging = config.staging()
    return {
        "capture_time": datetime.now(UTC).isoformat(timespec="seconds"),
        "base_manifest_count": len(manifest),
        "units": [
            {
                "unit": unit,
                "manifest_blob": staging.put(dump_manifest(slices[unit])) if slices.get(unit) else None,
            }
            for unit in units
        ],
    } | _measured(started)


def scan(unit: Mapping, params: Mapping) -> dict:
    """List one scan unit (a year folder) and diff it against its manifest slice."""
    started = time.monotonic()
    settings = BackupSettings.from_params(params)
    config = WorkerConfig.load()
    staging = config.staging()
    manifest = load_manifest(staging.get(unit["manifest_blob"])) if unit["manifest_blob"] else {}
    with _workspace_client(settings, config) as client:
        result = scan_unit(
            client, settings.workspace_root, unit["unit"], manifest, full_scan=settings.full_scan
        )
        stats = client.stats()
    return result.to_dict() | {"stats": stats} | _measured(started)


def _batch_label(partitions: Sequence[str]) -> str:
    first = partitions[0] or "(root)"
    return first if len(partitions) == 1 else f"{first} … {partitions[-1]} ({len(partitions)} engagements)"


def plan(units: Sequence[Mapping], scans: Sequence[Mapping], max_map_length: int, batch_objects: int) -> dict:
    """Group the engagements that need exporting into export tasks; name the scan units that did not finish.

    Consecutive engagements share a task until it holds ``batch_objects`` objects to export or delete:
    each mapped task instance costs Airflow a fixed overhead (a process, a DAG parse, XCom), which a
    daily run touching most of ~1,500 engagements would otherwise pay ~1,500 times. With
    ``batch_objects = 1`` every engagement is its own task. A task gets only a reference to its
    change lists, which go through the staging store: a mapped task instance reads the whole list it
    is mapped over, so mapping over the change lists themselves would cost every task seconds.
    """
    scanned = {s["unit"] for s in scans}
    engagements = [e for s in scans for e in s["engagements"] if EngagementChanges.from_dict(e).has_work]
    groups: list[list[dict]] = []
    size = batch_objects
    for engagement in sorted(engagements, key=lambda e: e["partition"]):
        if size >= batch_objects:
            groups.append([])
            size = 0
        groups[-1].append(engagement)
        size += len(engagement["to_export"]) + len(engagement["deleted"]) + 1
    if len(groups) > max_map_length:
        raise SettingsError(
            f"{len(groups):,} export tasks exceed [core] max_map_length = {max_map_length:,}; raise it "
            f"(e.g. AIRFLOW__CORE__MAX_MAP_LENGTH=4096) or [{SECTION}] export_batch_objects, see the README"
        )
    staging = WorkerConfig.load().staging()
    return {
        "engagements": engagements,
        "export_tasks": [
            {
                "label": _batch_label([e["partition"] for e in group]),
                "changes_blob": staging.put(json.dumps(group).encode()),
            }
            for group in groups
        ],
        "missing_units": sorted(u["unit"] for u in units if u["unit"] not in scanned),
    }


def _listing_failure(engagement: EngagementChanges) -> WorkspaceError | None:
    failures = [f for f in engagement.failed if f.reason.startswith("listing failed")]
    if not failures:
        return None
    return WorkspaceError(
        f"engagement {engagement.partition!r} was not listed completely ({failures[0].path}: "
        f"{failures[0].reason}); nothing of it is changed. Clear scan[{unit_of(engagement.partition)}] "
        "with downstream to list it again."
    )


def export(export_task: Mapping, params: Mapping) -> tuple[list[dict], dict, list[WorkspaceError]]:
    """Export the changed notebooks of one task's engagements into the staging store.

    Returns the result of every engagement that succeeded, the task's API stats and timing, and the
    errors of the engagements that failed (a listing that failed, or objects still failing after
    their retry budget); authentication errors and rate limiting beyond the budget raise at once.
    """
    started = time.monotonic()
    settings = BackupSettings.from_params(params)
    config = WorkerConfig.load()
    staging = config.staging()
    engagements = [
        EngagementChanges.from_dict(e) for e in json.loads(staging.get(export_task["changes_blob"]))
    ]
    if settings.dry_run:
        return [ExportResult(e.partition).to_dict() for e in engagements], {"dry_run": True}, []
    results: list[dict] = []
    errors: list[WorkspaceError] = []
    listed = []
    for engagement in engagements:
        if error := _listing_failure(engagement):
            errors.append(error)
        else:
            listed.append(engagement)
    with _workspace_client(settings, config) as client:
        # The engagements run side by side, so that a task of many small engagements keeps the
        # client's workers busy instead of waiting out each engagement's last round trip.
        with ThreadPoolExecutor(max_workers=ENGAGEMENTS_IN_FLIGHT) as pool:
            futures = [pool.submit(export_engagement, client, e, staging) for e in listed]
            for future in futures:
                try:
                    results.append(future.result().to_dict())
                except FATAL_ERRORS:
                    raise
                except WorkspaceError as error:
                    errors.append(error)
        stats = client.stats()
    return results, {"stats": stats} | _measured(started), errors


def commit(
    prepared: Mapping,
    planned: Mapping,
    exports: Sequence[Mapping],
    params: Mapping,
    run_id: str,
    logical_date: datetime,
) -> dict:
    """Commit what the exports produced, push, merge into the main branch; tag a complete run."""
    started = time.monotonic()
    settings = BackupSettings.from_params(params)
    config = WorkerConfig.load()
    exported = {e["partition"] for e in exports}
    missing = [e["partition"] for e in planned["engagements"] if e["partition"] not in exported]
    complete = not missing and not planned["missing_units"]
    upserts = [ManifestEntry.from_dict(u) for e in exports for u in e["upserts"]]
    deletions = [path for e in exports for path in e["deletions"]]
    day = logical_date.date().isoformat()
    counts = f"{len(upserts):,} added or modified, {len(deletions):,} deleted"
    info = CommitInfo(
        run_id=run_id,
        logical_date=logical_date.isoformat(),
        capture_time=prepared["capture_time"],
        summary_lines=[f"Incomplete: {len(missing)} engagements not exported: {', '.join(missing[:20])}"]
        if missing
        else [],
    )
    tag = settings.tag_for(logical_date) if complete else None
    engine = _engine(settings, config)
    engine.sync()
    result = engine.apply(
        ChangeSet(upserts=upserts, deletions=deletions),
        config.staging(),
        info=info,
        batch_size=settings.commit_batch_size,
        tag=tag,
        tag_message=(
            f"Databricks backup for {day} ({counts})\n\nlogical date: {info.logical_date}\n"
            f"captured at: {info.capture_time}\nrun: {run_id}\n"
        ),
        dry_run=settings.dry_run,
    )
    if not complete:
        log.warning(
            "Run incomplete, not tagging: engagements %s, units %s", missing, planned["missing_units"]
        )
    return asdict(result) | {"complete": complete, "missing_partitions": missing} | _measured(started)
