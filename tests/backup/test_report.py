from airflow_gitsync.report import build_summary, metrics, render_markdown

BLOB = "0" * 40


def _entry(path):
    return {
        "repo_path": path,
        "workspace_path": "/Clients/" + path.rsplit(".", 1)[0],
        "object_id": 1,
        "object_type": "NOTEBOOK",
        "language": "PYTHON",
        "modified_at": 1,
        "blob_id": BLOB,
    }


def _planned(partition, added=(), modified=()):
    to_export = [{"repo_path": p, "reason": "added"} for p in added]
    to_export += [{"repo_path": p, "reason": "modified"} for p in modified]
    return {"partition": partition, "to_export": to_export, "deleted": [], "unchanged": 0, "failed": []}


PREPARED = {"units": [{"unit": "2024"}, {"unit": "2025"}], "seconds": 1.5}
SCANS = [
    {
        "unit": "2024",
        "engagements": [],
        "unchanged": 15,
        "skipped": {"LIBRARY": 2},
        "warnings": ["2024/loose.py is outside the layout"],
        "failed_listings": [],
        "stats": {"list": {"calls": 4, "http_429": 1, "retries": 1}},
        "seconds": 2.0,
    },
    {"unit": "2025", "engagements": [], "skipped": {}, "warnings": [], "failed_listings": [], "seconds": 1.0},
]
PLANNED = [
    _planned("2024/A", added=["2024/A/NOTEBOOKS/new.py"], modified=["2024/A/NOTEBOOKS/old.py"]),
    _planned("2024/B", modified=["2024/B/NOTEBOOKS/x.py"]),
]
EXPORT_A = {
    "partition": "2024/A",
    "upserts": [_entry("2024/A/NOTEBOOKS/new.py"), _entry("2024/A/NOTEBOOKS/old.py")],
    "deletions": ["2024/A/NOTEBOOKS/gone.py"],
    "unchanged_after_export": 0,
    "failed": [{"path": "/Clients/2024/A/NOTEBOOKS/huge", "reason": "MAX_NOTEBOOK_SIZE_EXCEEDED"}],
    "vanished": [],
}
EXPORT_TASK = {"stats": {"export": {"calls": 3, "http_429": 2, "retries": 2}}, "seconds": 3.0}
COMMITTED = {"commits": ["c1"], "head": "c1", "tag": None, "pushed_bytes": 2048, "repo_size_bytes": 10**6}


def test_counts_per_year_and_failures():
    summary = build_summary(PREPARED, SCANS, PLANNED, [EXPORT_A], COMMITTED, [EXPORT_TASK])
    year = summary.per_year["2024"]
    assert (year["added"], year["modified"], year["deleted"], year["unchanged"]) == (1, 1, 1, 15)
    assert year["skipped"] == 2
    # the huge notebook, and engagement B whose export task never returned
    assert year["failed"] == 2
    assert ("2024/B", "export task did not finish") in summary.failures
    assert not summary.complete
    assert summary.api["export"]["http_429"] == 2
    assert summary.durations == {"prepare": 1.5, "scan": 3.0, "export": 3.0, "commit": 0.0}


def test_missing_scan_and_commit_make_the_run_incomplete():
    summary = build_summary(PREPARED, SCANS[:1], [], [], None)
    assert not summary.complete
    assert ("2025", "scan task did not finish") in summary.failures
    assert ("(commit)", "the commit task did not finish") in summary.failures


def test_complete_run_and_rendering():
    export_b = EXPORT_A | {"partition": "2024/B", "failed": [], "upserts": [_entry("2024/B/NOTEBOOKS/x.py")]}
    export_a = EXPORT_A | {"failed": []}
    summary = build_summary(PREPARED, SCANS, PLANNED, [export_a, export_b], COMMITTED | {"tag": "backup/x"})
    assert summary.complete and not summary.failures
    text = render_markdown(summary, "Backup")
    assert "Status: complete" in text and "backup/x" in text and "| 2024 |" in text
    values = metrics(summary)
    assert values["notebooks.modified"] == 2 and values["git.pushed_bytes"] == 2048
    assert summary.to_dict()["totals"]["deleted"] == 2


def test_nothing_prepared():
    summary = build_summary(None, [], None, [], None)
    assert not summary.complete
    assert "INCOMPLETE" in render_markdown(summary, "Backup")


def test_peak_rss_is_the_largest_per_phase():
    exports = [EXPORT_A, EXPORT_A | {"partition": "2024/B"}]
    tasks = [EXPORT_TASK | {"peak_rss_bytes": 300}, EXPORT_TASK | {"peak_rss_bytes": 200}]
    summary = build_summary(PREPARED | {"peak_rss_bytes": 100}, SCANS, PLANNED, exports, COMMITTED, tasks)
    assert summary.to_dict()["peak_rss_bytes"] == {"prepare": 100, "export": 300}
