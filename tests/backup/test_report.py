from airflow_gitsync.diff import ItemFailure
from airflow_gitsync.git.snapshot import SnapshotResult
from airflow_gitsync.report import build_summary, metrics, render_markdown
from airflow_gitsync.results import (
    CommitResult,
    ExportTaskResult,
    PlannedEngagement,
    PlanResult,
    PrepareResult,
    TaskMetrics,
    YearSlice,
)
from airflow_gitsync.workspace.export import ExportResult
from airflow_gitsync.workspace.scan import ScanResult


def _metrics(seconds, rss=0):
    return TaskMetrics(seconds, rss)


PREPARED = PrepareResult(
    "t", "/Clients", [YearSlice("2024", "2024", None), YearSlice("2025", "2025", None)], _metrics(1.5)
)
SCANS = [
    ScanResult(
        "2024",
        unchanged=15,
        skipped={"LIBRARY": 2},
        warnings=["2024/loose.py is outside the layout"],
        api={"list": {"calls": 4, "http_429": 1, "retries": 1}},
        metrics=_metrics(2.0),
    ),
    ScanResult("2025", metrics=_metrics(1.0)),
]
PLANNED = PlanResult(
    [PlannedEngagement("2024/A", 3), PlannedEngagement("2024/B", 1)], export_tasks=[], missing_years=[]
)
EXPORT_A = ExportResult(
    "2024/A",
    deletions=["2024/A/NOTEBOOKS/gone.py"],
    added=1,
    modified=1,
    unchanged=1,
    failed=[ItemFailure("/Clients/2024/A/NOTEBOOKS/huge", "MAX_NOTEBOOK_SIZE_EXCEEDED")],
)
EXPORT_B = ExportResult("2024/B", modified=1)
API = {"export": {"calls": 3, "http_429": 2, "retries": 2}}


def _task(*exports, rss=0):
    """What an export task pushes for the report: its result, counted."""
    return ExportTaskResult(list(exports), API, _metrics(3.0, rss)).counts()


def _committed(tag=None):
    git = SnapshotResult(
        commits=["c1"], head="c1", previous_head=None, tag=tag, tag_created=bool(tag), merged_main=None,
        pushed_bytes=2048, repo_size_bytes=10**6, size_warning=None, changed=True,
    )  # fmt: skip
    return CommitResult(git, complete=tag is not None, missing_engagements=[], metrics=_metrics(0.0))


def test_counts_per_year_and_failures():
    summary = build_summary(PREPARED, SCANS, PLANNED, [_task(EXPORT_A)], _committed())
    year = summary.per_year["2024"]
    # the upsert whose blob did not change counts as unchanged only, never also as modified
    assert (year["added"], year["modified"], year["deleted"], year["unchanged"]) == (1, 1, 1, 16)
    assert year["skipped"] == 2
    # the huge notebook, and engagement B whose export task never returned
    assert year["failed"] == 2
    assert ("2024/B", "export task did not finish") in summary.failures
    assert not summary.complete
    assert summary.api["export"]["http_429"] == 2
    assert summary.durations == {"prepare": 1.5, "scan": 3.0, "export": 3.0, "commit": 0.0}


def test_missing_scan_and_commit_make_the_run_incomplete():
    summary = build_summary(PREPARED, SCANS[:1], PLANNED, [], None)
    assert not summary.complete
    assert ("2025", "scan task did not finish") in summary.failures
    assert ("(commit)", "the commit task did not finish") in summary.failures


def test_a_task_that_failed_is_reported_with_its_error():
    summary = build_summary(
        None, [], None, [], None, errors={"prepare": "SettingsError: workspace_root '/nope'"}
    )
    assert summary.failures == [
        ("(prepare)", "the prepare task failed: SettingsError: workspace_root '/nope'")
    ]
    summary = build_summary(
        PREPARED, SCANS, PLANNED, [_task(EXPORT_A, EXPORT_B)], None, {"commit": "GitError: x"}
    )
    assert ("(commit)", "the commit task failed: GitError: x") in summary.failures


def test_complete_run_and_rendering():
    export_a = ExportResult(
        "2024/A", deletions=["2024/A/NOTEBOOKS/gone.py", "2024/A/NOTEBOOKS/b.py"], modified=1
    )
    summary = build_summary(PREPARED, SCANS, PLANNED, [_task(export_a, EXPORT_B)], _committed("backup/x"))
    assert summary.complete and not summary.failures
    text = render_markdown(summary, "Backup")
    assert "Status: complete" in text and "backup/x" in text and "| 2024 |" in text
    values = metrics(summary)
    assert values["notebooks.modified"] == 2 and values["git.pushed_bytes"] == 2048
    assert summary.to_dict()["totals"]["deleted"] == 2
    assert summary.to_dict()["commit"]["tag"] == "backup/x"


def test_nothing_prepared():
    summary = build_summary(None, [], None, [], None)
    assert not summary.complete
    assert "INCOMPLETE" in render_markdown(summary, "Backup")


def test_peak_rss_is_the_largest_per_phase():
    prepared = PrepareResult("t", "/Clients", PREPARED.years, _metrics(1.5, 100))
    tasks = [_task(EXPORT_A, rss=300), _task(EXPORT_B, rss=200)]
    summary = build_summary(prepared, SCANS, PLANNED, tasks, _committed())
    assert summary.to_dict()["peak_rss_bytes"] == {"prepare": 100, "scan": 0, "export": 300, "commit": 0}


def test_folder_exports_and_their_fallbacks_are_in_the_report():
    folder = ExportResult(
        "2024/A", modified=2, folder_export=True, fallback="the folder is over the 10 MB limit"
    )
    summary = build_summary(PREPARED, SCANS, PLANNED, [_task(folder, EXPORT_B)], _committed("backup/x"))
    text = render_markdown(summary, "Backup")
    assert "Engagements exported as one folder: 1" in text
    assert "- `2024/A`: the folder is over the 10 MB limit" in text
    assert summary.to_dict()["fallbacks"] == [
        {"engagement": "2024/A", "reason": "the folder is over the 10 MB limit"}
    ]
    assert metrics(summary)["folder_export_fallbacks"] == 1
