import string
from collections import Counter
from dataclasses import replace
from html.parser import HTMLParser

import pytest
from markdown_it import MarkdownIt

from airflow_gitsync.backup_report import (
    Summary,
    build_summary,
    md_escape,
    md_source,
    metrics,
    render_markdown,
)
from airflow_gitsync.diff import ItemFailure
from airflow_gitsync.git.snapshot import SnapshotResult
from airflow_gitsync.results import (
    CommitResult,
    ExportTaskResult,
    PlannedEngagement,
    PlanResult,
    PrepareResult,
    Repository,
    RepositoryResult,
    RepoState,
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
    ),
    ScanResult("2025"),
]
SCAN_TASKS = [  # what the scans push for the report: nothing exported, their listing's counters
    ExportTaskResult([], {"list": {"calls": 4, "http_429": 1, "retries": 1}}, _metrics(2.0), "scan[2024]"),
    ExportTaskResult([], {}, _metrics(1.0), "scan[2025]"),
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
    return ExportTaskResult(list(exports), API, _metrics(3.0, rss), "export[2024/A]").counts()


def _committed(tag=None, size=10**6):
    git = SnapshotResult(
        commits=["c1"], head="c1", previous_head=None, tag=tag, tag_created=bool(tag), merged_main=None,
        pushed_bytes=2048, repo_size_bytes=size, size_warning=None, changed=True,
    )  # fmt: skip
    return CommitResult(git, complete=tag is not None, missing_engagements=[], metrics=_metrics(0.0))


def test_counts_per_year_and_failures():
    summary = build_summary(PREPARED, SCANS, PLANNED, [*SCAN_TASKS, _task(EXPORT_A)], _committed())
    year = summary.per_year["2024"]
    # the upsert whose blob did not change counts as unchanged only, never also as modified
    assert (year["added"], year["modified"], year["deleted"], year["unchanged"]) == (1, 1, 1, 16)
    assert year["skipped"] == 2
    # the huge notebook, and engagement B whose export task never returned
    assert year["failed"] == 2
    assert ("2024/B", "export task did not finish") in summary.failures
    assert not summary.complete
    assert summary.api["export"]["http_429"] == 2 and summary.api["list"]["http_429"] == 1  # the scan's
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
    assert "Status: complete" in text and "tag: backup\\/x" in text and "| 2024 |" in text
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
    tasks = [*SCAN_TASKS, _task(EXPORT_A, rss=300), _task(EXPORT_B, rss=200)]
    summary = build_summary(prepared, SCANS, PLANNED, tasks, _committed())
    assert summary.to_dict()["peak_rss_bytes"] == {"prepare": 100, "scan": 0, "export": 300, "commit": 0}


def test_folder_exports_and_their_fallbacks_are_in_the_report():
    folder = ExportResult(
        "2024/A", modified=2, folder_export=True, fallback="the folder is over the 10 MB limit"
    )
    summary = build_summary(PREPARED, SCANS, PLANNED, [_task(folder, EXPORT_B)], _committed("backup/x"))
    text = render_markdown(summary, "Backup")
    assert "Engagements exported as one folder: 1" in text
    assert "- 2024\\/A: the folder is over the 10 MB limit" in text
    assert summary.to_dict()["fallbacks"] == [
        {"engagement": "2024/A", "reason": "the folder is over the 10 MB limit"}
    ]
    assert metrics(summary)["folder_export_fallbacks"] == 1


HOSTILE = (
    "![x](https://host/t.png) [Re-login](https://host/login) <img src=x> <https://host/a> www.host.com "
    "a@host.com `code` *em* _em_ ~~s~~ &amp; &#x3c; \\| | a\\\nb\r# h\n- li\n    pre\n<script>x</script>"
)
SHOWN = HOSTILE.replace("\n", "\u240a").replace("\r", "\u240d")  # a line break is shown, never a new block
# stricter than the summary page's renderer: raw HTML on, as some markdown renderers have it
RENDER = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])


class _Html(HTMLParser):
    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: Counter = Counter()
        self.cells: list[int] = []
        self.text = ""
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags[tag] += 1
        if tag == "tr":
            self.cells.append(0)
        elif tag in ("td", "th"):
            self.cells[-1] += 1

    def handle_data(self, data):
        self.text += data


@pytest.mark.parametrize(
    "text", [string.punctuation, HOSTILE, "1. a", "# a", "- a", "> a", "===", "a\\", "\u2028x\x85y", "é 🙂"]
)
def test_md_escape_is_the_text_itself_in_any_markdown(text):
    html = _Html(RENDER.render(f"x {md_escape(text)} x"))
    assert html.text == f"x {text.replace(chr(10), chr(0x240A)).replace(chr(13), chr(0x240D))} x\n"
    assert set(html.tags) == {"p"}


@pytest.mark.parametrize("text", [string.punctuation, HOSTILE, "a\\", "/Clients/2024/ENG-1/NOTEBOOKS/x_y.py"])
def test_md_source_reads_the_names_as_they_are(text):
    """Issue 26: the rendered field and the log showed every name's backslashes."""
    shown = text.replace("\n", "\u240a").replace("\r", "\u240d")  # line breaks stay visible
    assert md_source(f"| {md_escape(text)} | **x** |") == f"| {shown} | **x** |"


def test_names_reasons_and_the_run_id_are_text_in_the_summary():
    """Issue 25: a notebook named ``![x](https://host/t.png)`` was an image in an admin's browser."""
    summary = Summary(
        failures=[(f"/Clients/2024/{HOSTILE}/NOTEBOOKS/n", HOSTILE)],
        warnings=[HOSTILE],
        skipped_types=Counter({HOSTILE: 1}),
        fallbacks=[(HOSTILE, HOSTILE)],
        commit={"commits": [], "head": HOSTILE, "tag": HOSTILE, "size_warning": HOSTILE},
    )
    summary.per_year[HOSTILE]["failed"] = 1
    text = render_markdown(summary, f"Backup 2026-11-02 (manual__{HOSTILE})")
    assert "://" not in text and "www." not in text and "a@host" not in text  # nothing to autolink
    html = _Html(RENDER.render(text))
    assert html.text.count(SHOWN) == 11  # title, year, path, reason, warning, fallback (2), type, git (3)
    assert html.tags["h1"] == 1 and not {"a", "img", "script", "code", "em", "s", "pre", "h3"} & set(
        html.tags
    )
    assert html.cells[:3] == [7, 7, 7]  # per year: the header, the hostile year and the total


def test_a_blobless_mirror_reports_no_repository_size_rather_than_a_wrong_one():
    blobless = build_summary(PREPARED, SCANS, PLANNED, [_task(EXPORT_A)], _committed(size=None))
    text = render_markdown(blobless, "Backup")
    assert "repository size: not measured (a blobless mirror, ADR 0006, and no Azure DevOps REST API" in text
    assert "git.repo_size_bytes" not in metrics(blobless)
    whole = build_summary(PREPARED, SCANS, PLANNED, [_task(EXPORT_A)], _committed())
    assert "repository size: 976.6 KiB" in render_markdown(whole, "Backup")
    assert metrics(whole)["git.repo_size_bytes"] == 10**6


def test_a_sharded_run_has_a_row_per_repository_and_a_missing_one_fails_it():
    """Issue 28: the size watch per repository; an error text from a server is hostile too."""
    repositories = [
        Repository("2024", "https://dev.azure.com/o/p/_git/nb-2024", RepoState.ACTIVE),
        Repository("2025", "https://dev.azure.com/o/p/_git/nb-2025", RepoState.MISSING, HOSTILE),
        Repository("other", "https://dev.azure.com/o/p/_git/nb-other", RepoState.ARCHIVED),
    ]
    prepared = replace(PREPARED, repositories=repositories)
    committed = _committed("backup/2026-11-02", size=3 * 2**30)
    done = RepositoryResult("2024", repositories[0].url, RepoState.ACTIVE, committed.git)
    committed = replace(committed, repositories=[done])
    summary = build_summary(prepared, SCANS, PLANNED, [_task(EXPORT_A), _task(EXPORT_B)], committed)
    assert not summary.complete and summary.failures[0] == ("(repository 2025)", HOSTILE)
    rows = {r["shard"]: r for r in summary.to_dict()["repositories"]}
    assert rows["2024"]["repo_size_bytes"] == 3 * 2**30 and rows["2024"]["tag"] == "backup/2026-11-02"
    assert rows["2025"]["state"] == "missing" and rows["other"]["state"] == "archived"
    html = _Html(RENDER.render(render_markdown(summary, "Backup")))
    assert "3.0 GiB (30.0%)" in html.text and not {"a", "img", "script"} & set(html.tags)
