"""Scan and export against the Workspace API emulator, with and without faults.

The invariant every test checks: each notebook and file under the root ends either backed up with
exactly the emulator's bytes, or reported with a reason; nothing in the manifest is stale.
"""

from __future__ import annotations

import json
import time
from functools import partial

import pytest

from airflow_gitsync import layout
from airflow_gitsync.blob import git_blob_id as layout_blob
from airflow_gitsync.diff import FolderRule
from airflow_gitsync.errors import AuthError, NotFoundError, RateLimitedError, TransientError
from airflow_gitsync.manifest import ManifestEntry
from airflow_gitsync.results import from_xcom, to_xcom
from airflow_gitsync.staging import StagingStore
from airflow_gitsync.workspace.client import WorkspaceClient
from airflow_gitsync.workspace.export import (
    ENGAGEMENTS_IN_FLIGHT,
    ExportResult,
    export_engagement,
    export_engagements,
)
from airflow_gitsync.workspace.scan import ScanResult, list_years, scan_year

ROOT = "/Clients"
FAST = {"export": 2000, "list": 2000, "other": 2000}
ENG = f"{ROOT}/2024/ENG-7/NOTEBOOKS"


def client_for(emu, **kwargs):
    kwargs = {"rates": FAST, "max_workers": 8, "backoff_base": 0.01, "max_retry_seconds": 30, **kwargs}
    return WorkspaceClient(emu.url, lambda: "dapi-test", **kwargs)


def backup(client, staging, manifest, *, full_scan=False, exporter=None):
    """One run as the DAG does it, JSON round trips included; returns (new manifest, scans, exports).

    With ``exporter`` (a second client), each scan exports engagements as it lists them, as the scan
    task does; the export tasks then get only what it left.
    """
    scans, exports = [], []
    years = set(list_years(client, ROOT)) | {
        layout.year_of(layout.engagement_of(p.split("/"))) for p in manifest
    }
    for year in sorted(years):
        year_manifest = {
            p: e for p, e in manifest.items() if layout.year_of(layout.engagement_of(p.split("/"))) == year
        }
        export = partial(export_engagement, exporter, sink=staging) if exporter else None
        scan, exported = scan_year(client, ROOT, year, year_manifest, full_scan=full_scan, export=export)
        scan = from_xcom(ScanResult, json.loads(json.dumps(to_xcom(scan))))
        scans.append(scan)
        exports.extend(exported)
        for changes in scan.engagements:
            result = export_engagement(client, changes, staging)
            exports.append(from_xcom(ExportResult, json.loads(json.dumps(to_xcom(result)))))
    new = dict(manifest)
    for result in exports:
        for path in result.deletions:
            del new[path]
        new.update((e.repo_path, e) for e in result.upserts)
    return new, scans, exports


def failures_of(exports):
    return {f.path: f.reason for r in exports for f in r.failed}


def assert_accounted(emu, staging, manifest, exports):
    """Every object is backed up with the right bytes or reported; nothing stale in the manifest."""
    snapshot = emu.snapshot(ROOT)
    failed = failures_of(exports)
    by_workspace = {e.workspace_path: e for e in manifest.values()}
    for path, content in snapshot.items():
        if path in failed:
            continue
        assert path in by_workspace, f"{path} neither backed up nor reported"
        assert staging.get(by_workspace[path].blob_id) == content, f"{path}: wrong bytes"
    stale = set(by_workspace) - set(snapshot)
    assert not stale, f"manifest holds objects that are gone: {sorted(stale)}"
    return failed


@pytest.fixture
def staging(tmp_path):
    return StagingStore(tmp_path / "staging")


def test_initial_sync_of_the_generated_workspace(emulator, staging):
    with client_for(emulator) as client:
        manifest, scans, exports = backup(client, staging, {})
    failed = assert_accounted(emulator, staging, manifest, exports)
    (too_large,) = failed.values()
    assert "MAX_NOTEBOOK_SIZE_EXCEEDED" in too_large
    assert sum(s.skipped.get("LIBRARY", 0) + s.skipped.get("DASHBOARD", 0) for s in scans) == 2
    warnings = [w for s in scans for w in s.warnings]
    assert any("outside" in w for w in warnings) and any("case" in w for w in warnings)
    for entry in manifest.values():
        assert entry.repo_path == layout.to_repo_path(
            ROOT, entry.workspace_path, entry.object_type, entry.language
        )

    with client_for(emulator) as client:  # nothing changed: only the too-large notebook is retried
        again, scans, exports = backup(client, staging, manifest)
    assert again == manifest
    assert [o.workspace_path for s in scans for e in s.engagements for o in e.to_export] == list(failed)


def test_exporting_during_the_scan_backs_up_the_same_and_overlaps_the_listing(emulator, tmp_path):
    """Engagements are exported while the rest of the year is listed, with the same outcome as
    export tasks after the scan, and nothing is left for the export tasks."""
    with client_for(emulator) as client:
        reference, _, reference_exports = backup(client, StagingStore(tmp_path / "a"), {})
    listed_at, exported_at = [], []
    staging = StagingStore(tmp_path / "b")
    with client_for(emulator) as client, client_for(emulator) as exporter:
        real_list, real_export = client.list, exporter.export
        client.list = lambda path: (listed_at.append(time.monotonic()), real_list(path))[1]
        exporter.export = lambda *a, **k: (exported_at.append(time.monotonic()), real_export(*a, **k))[1]
        manifest, scans, exports = backup(client, staging, {}, exporter=exporter)
    assert_accounted(emulator, staging, manifest, exports)
    assert manifest == reference
    assert failures_of(exports) == failures_of(reference_exports)  # the notebook over 10 MB, both ways
    assert [e.engagement for s in scans for e in s.engagements] == []
    assert min(exported_at) < max(listed_at), "no export started before the listing ended"


def test_an_export_that_fails_during_the_scan_is_left_for_the_export_task(emulator, staging):
    failing = "2024/ENG-7"
    emulator.put_notebook(f"{ENG}/x", b"# Databricks notebook source\nx\n")
    calls = []

    def export(changes):
        calls.append(changes.engagement)
        if changes.engagement == failing:
            raise TransientError("HTTP 503 after retries")
        return ExportResult(changes.engagement)

    with client_for(emulator) as client:
        scan, exported = scan_year(client, ROOT, "2024", {}, export=export)
        assert [e.engagement for e in scan.engagements] == [failing]
        assert failing in calls
        assert sorted(e.engagement for e in exported) == sorted(set(calls) - {failing})

        calls.clear()  # engagements exported as one folder are left to the export tasks
        scan, exported = scan_year(client, ROOT, "2024", {}, export=export, folder_rule=FolderRule(1, 0))
        assert calls == [] and exported == [] and failing in [e.engagement for e in scan.engagements]

        def fatal(changes):
            raise AuthError("HTTP 403: invalid token")

        with pytest.raises(AuthError):
            scan_year(client, ROOT, "2024", {}, export=fatal)


def test_faults_429_storm_5xx_drops_and_missing_modified_at(emulator_factory, staging):
    emu = emulator_factory(
        generate=120,
        seed=3,
        rates={"export": 40, "list": 40},
        fault_rate=0.05,
        drop_rate=0.03,
        missing_modified_at_rate=0.3,
    )
    with client_for(emu, max_workers=16) as client:  # client limit far above the server's: 429 storms
        manifest, _, exports = backup(client, staging, {})
        stats = client.stats()
    failed = assert_accounted(emu, staging, manifest, exports)
    assert all("exceeded max size" in reason or "Size exceeds" in reason for reason in failed.values())
    assert stats["export"]["http_429"] > 0 and stats["export"]["retries"] > stats["export"]["http_429"]
    counters = emu.counters()
    assert counters["export"]["5xx"] > 0 and counters["export"]["dropped"] + counters["list"]["dropped"] > 0
    assert any(e.modified_at is None for e in manifest.values())

    emu.set_faults(rates={})
    with client_for(emu) as client:  # objects without modified_at are re-exported, equal by blob id
        again, scans, exports = backup(client, staging, manifest)
    assert again == manifest
    unknown = [o for s in scans for e in s.engagements for o in e.to_export if o.reason == "unknown-mtime"]
    assert unknown and sum(r.unchanged for r in exports) == len(unknown)


def test_incremental_changes(emulator, staging):
    with client_for(emulator) as client:
        manifest, _, _ = backup(client, staging, {})
        paths = sorted(e.workspace_path for e in manifest.values() if e.object_type == "NOTEBOOK")
        emulator.modify_notebook(paths[0])
        emulator.delete(paths[1])
        emulator.rename(paths[2], paths[2] + " renamed")
        emulator.put_notebook(f"{ENG}/brand new", b"-- Databricks notebook source\nselect 1\n", "SQL")
        emulator.put_file(f"{ROOT}/loose.txt", b"raw file bytes\x00")
        new, scans, exports = backup(client, staging, manifest)
    assert_accounted(emulator, staging, new, exports)
    reasons = {o.workspace_path: o.reason for s in scans for e in s.engagements for o in e.to_export}
    assert reasons[paths[0]] == "modified"
    assert (
        reasons[paths[2] + " renamed"]
        == reasons[f"{ENG}/brand new"]
        == reasons[f"{ROOT}/loose.txt"]
        == "added"
    )
    deleted = {p for r in exports for p in r.deletions}
    assert {manifest_path(manifest, paths[1]), manifest_path(manifest, paths[2])} == deleted
    assert (
        new["loose.txt"].object_type == "FILE" and new["2024/ENG-7/NOTEBOOKS/brand new.sql"].language == "SQL"
    )


def manifest_path(manifest, workspace_path):
    return next(p for p, e in manifest.items() if e.workspace_path == workspace_path)


def test_a_manifest_loader_runs_beside_the_listing_and_its_error_fails_the_scan(emulator, staging):
    """The scan task hands its manifest slice over as a loader: the rate-bound listing starts first,
    the diff is the same as with the loaded manifest, and a loader that fails fails the scan."""
    with client_for(emulator) as client:
        manifest, _, _ = backup(client, staging, {})
        changed = next(
            o["path"]
            for o in emulator.objects()
            if o["path"].startswith(f"{ROOT}/2023/") and "/NOTEBOOKS/" in o["path"]
        )
        emulator.modify_notebook(changed)
        unit_manifest = {p: e for p, e in manifest.items() if p.startswith("2023/")}

        def load():
            deadline = time.monotonic() + 10
            while client.stats()["list"]["calls"] == listed_before:
                assert time.monotonic() < deadline, "the listing waited for the manifest"
                time.sleep(0.005)
            return unit_manifest

        listed_before = client.stats()["list"]["calls"]
        loaded, _ = scan_year(client, ROOT, "2023", load)
        given, _ = scan_year(client, ROOT, "2023", unit_manifest)
        assert to_xcom(loaded) == to_xcom(given)
        assert [e.engagement for e in given.engagements] == ["/".join(changed.split("/")[2:4])]

        def broken():
            raise ValueError("the manifest's records of year '2023': line 3: not JSON")

        with pytest.raises(ValueError, match="line 3"):
            scan_year(client, ROOT, "2023", broken)


def test_deleted_or_modified_between_scan_and_export(emulator, staging):
    for name in ("kept", "old", "changes"):
        emulator.put_notebook(f"{ENG}/{name}", b"# Databricks notebook source\n" + name.encode())
    with client_for(emulator) as client:
        manifest, _, _ = backup(client, staging, {})
        emulator.modify_notebook(f"{ENG}/old")
        emulator.put_notebook(f"{ENG}/new", b"# Databricks notebook source\nnew\n")
        emulator.set_modified_at(f"{ENG}/changes", None)
        unit_manifest = {p: e for p, e in manifest.items() if p.startswith("2024/")}
        scan, _ = scan_year(client, ROOT, "2024", unit_manifest)
        (changes,) = [e for e in scan.engagements if e.engagement == "2024/ENG-7"]
        assert {o.workspace_path.rsplit("/", 1)[1] for o in changes.to_export} == {"old", "new", "changes"}
        emulator.delete(f"{ENG}/old")  # in the manifest: a deletion
        emulator.delete(f"{ENG}/new")  # never backed up: vanished
        emulator.modify_notebook(f"{ENG}/changes", b"# Databricks notebook source\nnewest\n")
        result = export_engagement(client, changes, staging)
    assert result.deletions == ["2024/ENG-7/NOTEBOOKS/old.py"]
    assert (result.added, result.modified, result.unchanged) == (0, 1, 0)  # new vanished: nothing
    assert result.failed == []
    (entry,) = result.upserts
    assert staging.get(entry.blob_id) == b"# Databricks notebook source\nnewest\n"
    assert entry.modified_at is None  # the listed value: the next run looks again


def test_listing_failure_fails_one_engagement_and_deletes_nothing(emulator, staging):
    with client_for(emulator) as client:
        manifest, _, _ = backup(client, staging, {})
    folder = next(
        e.workspace_path.rsplit("/NOTEBOOKS/", 1)[0]
        for e in manifest.values()
        if "/NOTEBOOKS/" in e.workspace_path
    )
    engagement = folder[len(ROOT) + 1 :]
    emulator.inject_failure(f"{folder}/NOTEBOOKS", endpoints=("list",), status=500)
    for entry in list(manifest.values())[:3]:
        emulator.delete(entry.workspace_path)  # would be deletions, if the listing were trusted
    with client_for(emulator, max_retry_seconds=0.5) as client:
        new, scans, exports = backup(client, staging, manifest)
    (failed_engagement,) = [e for s in scans for e in s.engagements if e.engagement == engagement]
    assert failed_engagement.to_export == [] and failed_engagement.deleted == []
    assert (
        "listing failed" in failed_engagement.failed[0].reason and "500" in failed_engagement.failed[0].reason
    )
    assert [f.path for s in scans for f in s.failed_listings] == [f"{folder}/NOTEBOOKS"]
    assert all(not p.startswith(engagement + "/") for r in exports for p in r.deletions)

    emulator.clear_failures()
    with client_for(emulator) as client:
        healed, _, exports = backup(client, staging, new)
    assert_accounted(emulator, staging, healed, exports)


def test_hostile_names_are_escaped_and_collisions_reported_per_item(emulator_factory, staging):
    emu = emulator_factory(generate=0)
    emu.put_notebook(f"{ENG}/good", b"# Databricks notebook source\n")
    emu.put_notebook(f"{ENG}/.git/hooks/post-checkout", b"# Databricks notebook source\n")
    emu.put_notebook(f"{ENG}/back\\slash", b"# Databricks notebook source\n")
    emu.put_notebook(f"{ENG}/etl", b"# Databricks notebook source\n")
    emu.put_file(f"{ENG}/etl.py", b"print('a file')\n")
    emu.put_notebook(f"{ROOT}/.gitsync/manifest.jsonl", b"# Databricks notebook source\n")
    with client_for(emu) as client:
        manifest, _, exports = backup(client, staging, {})
    failed = failures_of(exports)
    assert {p: e.workspace_path for p, e in manifest.items()} == {
        "2024/ENG-7/NOTEBOOKS/good.py": f"{ENG}/good",
        "2024/ENG-7/NOTEBOOKS/%2Egit/hooks/post-checkout.py": f"{ENG}/.git/hooks/post-checkout",
        "2024/ENG-7/NOTEBOOKS/back%5Cslash.py": f"{ENG}/back\\slash",
        "%2Egitsync/manifest.jsonl.py": f"{ROOT}/.gitsync/manifest.jsonl",
    }
    assert set(failed) == {f"{ENG}/etl", f"{ENG}/etl.py"}
    assert "shared by" in failed[f"{ENG}/etl"]


def test_full_scan_heals_drift(emulator, staging):
    with client_for(emulator) as client:
        manifest, _, _ = backup(client, staging, {})
        victim = next(p for p, e in manifest.items() if e.object_type == "NOTEBOOK")
        entry = manifest[victim]
        manifest[victim] = ManifestEntry(
            entry.repo_path,
            entry.workspace_path,
            entry.object_id,
            entry.object_type,
            entry.language,
            entry.modified_at,
            "0" * 40,
        )
        same, _, _ = backup(client, staging, manifest)
        assert same[victim].blob_id == "0" * 40  # an incremental run trusts modified_at
        healed, _, exports = backup(client, staging, manifest, full_scan=True)
    assert healed[victim].blob_id == entry.blob_id
    assert_accounted(emulator, staging, healed, exports)


def test_a_removed_year_is_deleted_but_a_wrong_root_is_an_error(emulator, staging):
    with client_for(emulator) as client:
        manifest, _, _ = backup(client, staging, {})
        emulator.delete(f"{ROOT}/2023", recursive=True)
        new, _, exports = backup(client, staging, manifest)
        assert not any(p.startswith("2023/") for p in new)
        assert_accounted(emulator, staging, new, exports)
        unit_manifest = {p: e for p, e in manifest.items() if p.startswith("2023/")}
        with pytest.raises(NotFoundError):
            scan_year(client, "/Clientz", "2023", unit_manifest)


def test_auth_errors_fail_the_task(emulator, staging):
    with client_for(emulator) as client:
        changes = next(e for e in scan_year(client, ROOT, "2023", {})[0].engagements if e.to_export)
    bad = WorkspaceClient(emulator.url, lambda: "wrong-token", rates=FAST)
    with bad, pytest.raises(AuthError, match=r"127\.0\.0\.1.*403"):
        export_engagement(bad, changes, staging)


def test_persistent_server_errors_fail_the_engagement_after_staging_the_rest(emulator, staging):
    with client_for(emulator, max_retry_seconds=0.5) as client:
        scans = [scan_year(client, ROOT, year, {})[0] for year in list_years(client, ROOT)]
        changes = max((e for s in scans for e in s.engagements), key=lambda e: len(e.to_export))
        broken = changes.to_export[0].workspace_path
        emulator.inject_failure(broken, endpoints=("export",), status=503)
        with pytest.raises(TransientError, match=f"1 of {len(changes.to_export)} objects") as raised:
            export_engagement(client, changes, staging)
    assert broken in str(raised.value)
    snapshot = emulator.snapshot(ROOT)
    staged = [o for o in changes.to_export[1:] if len(snapshot[o.workspace_path]) <= 10 * 1024 * 1024]
    assert all(staging.blob_path(layout_blob(snapshot[o.workspace_path])).exists() for o in staged)


def test_a_fatal_error_cancels_the_engagements_not_yet_started(emulator_factory, staging):
    """Rate limiting past the retry budget concerns the whole task: the queued engagements are
    cancelled instead of each spending its own budget on it."""
    emu = emulator_factory(generate=0)
    for i in range(24):
        emu.put_notebook(f"{ROOT}/2024/ENG-{i:02d}/NOTEBOOKS/nb", b"# Databricks notebook source\n")
    emu.inject_failure(f"{ROOT}/2024", endpoints=("export",), status=429, error_code="REQUEST_LIMIT_EXCEEDED")
    attempted = set()

    class Recording(WorkspaceClient):
        def export(self, path, *args, **kwargs):
            attempted.add(path.split("/")[3])
            return super().export(path, *args, **kwargs)

    with Recording(
        emu.url, lambda: "dapi-test", rates=FAST, backoff_base=0.01, max_retry_seconds=0.5
    ) as client:
        scan, _ = scan_year(client, ROOT, "2024", {})
        with pytest.raises(RateLimitedError):
            export_engagements(client, scan.engagements, staging)
    assert len(scan.engagements) == 24 and 0 < len(attempted) <= ENGAGEMENTS_IN_FLIGHT
