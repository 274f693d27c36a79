from datetime import date, datetime, timedelta
from itertools import pairwise

import pytest

from airflow_gitsync.backup_report import Summary
from airflow_gitsync.compat import UTC
from airflow_gitsync.ui.history import (
    LONG_GAP,
    MAX_NAME,
    MAX_REPOSITORIES,
    BackupRun,
    Gap,
    State,
    engagement_of_failure,
    history,
    project,
    row_of,
    state_of,
    tag_url,
)
from gitsync_devkit.backup_history import generate, records

RATES = {"export": 60.0, "list": 50.0}
D = date(2026, 11, 2)


def _summary(**kwargs) -> dict:
    return Summary(**kwargs).to_dict()


@pytest.mark.parametrize(
    ("state", "summary", "expected"),
    [
        ("success", _summary(commit={"tag": "backup/2026-11-02"}), State.COMPLETE),
        ("failed", _summary(commit={"tag": "t"}, failures=[("/Clients/a/b/c", "too big")]), State.PARTIAL),
        ("failed", _summary(commit={"head": "x"}, complete=False), State.PARTIAL),
        ("failed", _summary(complete=False), State.FAILED),
        ("failed", None, State.FAILED),
        ("running", None, State.RUNNING),
    ],
)
def test_state_of_a_run(state, summary, expected):
    assert state_of(BackupRun("r", D, state, summary=summary)) is expected


def test_a_row_has_the_duration_against_the_rate_limit_floor():
    summary = Summary(commit={"tag": "backup/2026-11-02", "pushed_bytes": 5, "repo_size_bytes": 9})
    summary.api["export"].update(calls=600)
    summary.api["list"].update(calls=100)
    start = datetime(2026, 11, 2, 2, tzinfo=UTC)
    row = row_of(
        BackupRun("r", D, "success", start, start + timedelta(seconds=30), {}, summary.to_dict()), RATES
    )
    assert (row.seconds, row.floor_seconds) == (30.0, 12.0)
    assert (row.tag, row.pushed_bytes, row.repo_size_bytes) == ("backup/2026-11-02", 5, 9)
    running = row_of(BackupRun("r", D, "running", start, None), RATES)
    assert (running.seconds, running.floor_seconds, running.state) == (None, None, State.RUNNING)


def _page(runs, **kwargs):
    return history(runs, rates=RATES, default_root="/Clients", **kwargs)


def test_gaps_are_the_dates_without_a_run_above_each_run_up_to_until():
    runs = [BackupRun(f"r{d}", date(2026, 11, d), "success") for d in (10, 7, 6, 3)]
    result = _page(runs, until=date(2026, 11, 13))
    assert result.gaps == [
        Gap(date(2026, 11, 11), date(2026, 11, 12)),
        Gap(date(2026, 11, 8), date(2026, 11, 9)),
        Gap(date(2026, 11, 4), date(2026, 11, 5)),
    ]  # the gap below the oldest run is the next page's
    assert result.axis == [date(2026, 11, d) for d in range(3, 13)]  # a short gap: a slot per date
    assert result.span == (date(2026, 11, 3), date(2026, 11, 12)) and result.older is None
    assert _page(runs).gaps == result.gaps[1:]
    assert _page([], until=date(2026, 11, 12)).gaps == []


def test_a_long_gap_is_one_row_and_one_slot_whatever_its_length():
    """Issue 25: a run dated 1000-01-01 made a page of 370,000 dates (118 MB of HTML)."""
    runs = [BackupRun("new", date(2026, 11, 29), "success"), BackupRun("old", date(1000, 1, 1), "queued")]
    result = _page(runs, until=date(2026, 12, 1))
    long = Gap(date(1000, 1, 2), date(2026, 11, 28))
    assert result.gaps == [Gap(date(2026, 11, 30), date(2026, 11, 30)), long]
    assert result.axis == [date(1000, 1, 1), long, date(2026, 11, 29), date(2026, 11, 30)]
    assert long.label == "1000-01-02 … 2026-11-28"
    extremes = _page(
        [BackupRun("a", date.min, "success"), BackupRun("b", date.max, "success")], until=date.max
    )
    assert extremes.gaps == [Gap(date.min + timedelta(days=1), date.max - timedelta(days=1))]
    assert len(extremes.axis) == 3 and extremes.older is None


def test_paging_back_shows_every_run_and_every_missing_date_once_in_bounded_pages():
    generated = records(generate(date(2026, 11, 30), 120))
    doubled = [BackupRun(f"manual{r.day}", r.day, "success") for r in generated if r.day.day % 3 == 0]
    runs = sorted([*generated, *doubled, BackupRun("old", date(1000, 1, 1), "queued")], key=lambda r: r.day)
    until, limit, before, seen, spans = date(2026, 12, 1), 20, None, [], []
    while True:
        fetched = [r for r in reversed(runs) if before is None or r.day < before][: limit + 1]  # as the store
        page = _page(fetched, until=min(before or until, until), days=limit, more=len(fetched) > limit)
        assert len(page.axis) <= limit + LONG_GAP and len(page.rows) <= limit + 1
        seen += [r.run.run_id for r in page.rows]
        spans += [(d, d) for d in {r.day for r in page.rows}] + [(g.first, g.last) for g in page.gaps]
        if page.older is None:
            break
        before = page.older
    assert sorted(seen) == sorted(r.run_id for r in runs)
    spans.sort()
    assert spans[0][0] == date(1000, 1, 1) and spans[-1][1] == date(2026, 11, 30)
    assert all(b[0] == a[1] + timedelta(days=1) for a, b in pairwise(spans))


def test_a_missing_date_gives_the_backfill_command_that_fills_it():
    assert Gap(D, D).command("databricks_git_backup") == (
        "airflow backfill create --dag-id databricks_git_backup --from-date 2026-11-02 --to-date 2026-11-02"
    )
    assert Gap(D, D + timedelta(days=2)).days == 3


@pytest.mark.parametrize(
    ("path", "engagement"),
    [
        ("/Clients/2024/ENG-101/NOTEBOOKS/etl", "2024/ENG-101"),
        ("/Clients/2024/ENG-101", "2024/ENG-101"),
        ("2024/ENG-101", "2024/ENG-101"),
        ("2024", "2024"),
        ("/Other/x", None),
        ("(prepare)", None),
    ],
)
def test_the_engagement_of_a_failure(path, engagement):
    assert engagement_of_failure(path, "/Clients") == engagement


def test_history_counts_engagements_failing_on_several_dates_first():
    def run(day, *paths):
        summary = _summary(commit={"head": "x"}, failures=[(p, "too big") for p in paths])
        return BackupRun(f"r{day}", date(2026, 11, day), "failed", summary=summary)

    result = history(
        [run(1, "/Clients/2024/A/NOTEBOOKS/x"), run(2, "/Clients/2024/B/NOTEBOOKS/x", "/Clients/2024/A/N/y")],
        rates=RATES,
        default_root="/Clients",
    )
    assert [(e.engagement, e.days, e.failures) for e in result.engagements] == [
        ("2024/A", 2, 2),
        ("2024/B", 1, 1),
    ]
    assert [r.day.day for r in result.rows] == [2, 1]


def test_a_page_of_generated_history_covers_every_date_once():
    days = generate(date(2026, 11, 30), 400)
    result = _page(records(days), until=date(2026, 12, 1))
    assert len(result.axis) == 400 == len(result.rows) + sum(g.days for g in result.gaps)
    assert result.axis == sorted(result.axis) and result.axis[-1] == date(2026, 11, 30)
    entries = result.entries()
    assert len(entries) == len(result.rows) + len(result.gaps)
    assert {e.state for e in result.rows} >= {State.COMPLETE, State.PARTIAL, State.FAILED}


def test_projection_of_the_repository_size():
    points = [(D + timedelta(days=i), 1000.0 + 10 * i) for i in range(10)]
    projection = project(points, 2000)
    assert projection.per_day == pytest.approx(10)
    assert projection.reaches_limit == D + timedelta(days=100)
    assert project([(D, 5.0), (D + timedelta(days=1), 4.0)], 10).reaches_limit is None
    assert project([(D, 5.0)], 10) is None
    assert project([(D, 50.0), (D + timedelta(days=1), 60.0)], 10).reaches_limit == D + timedelta(days=1)
    late = [(date.max - timedelta(days=1), 1.0), (date.max, 2.0)]
    assert project(late, 10).reaches_limit == date.max


@pytest.mark.parametrize(
    ("remote", "url"),
    [
        (
            "https://dev.azure.com/org/proj/_git/repo",
            "https://dev.azure.com/org/proj/_git/repo?version=GTbackup/2026-11-02",
        ),
        (
            "https://user@dev.azure.com/org/proj/_git/repo/",
            "https://dev.azure.com/org/proj/_git/repo?version=GTbackup/2026-11-02",
        ),
        (
            "https://org.visualstudio.com/proj/_git/repo",
            "https://org.visualstudio.com/proj/_git/repo?version=GTbackup/2026-11-02",
        ),
        (
            "git@ssh.dev.azure.com:v3/org/proj/repo",
            "https://dev.azure.com/org/proj/_git/repo?version=GTbackup/2026-11-02",
        ),
        ("https://github.com/org/repo.git", None),
        ("http://127.0.0.1:8080/backup.git", None),
        (None, None),
    ],
)
def test_tag_url_on_azure_devops(remote, url):
    assert tag_url(remote, "backup/2026-11-02") == url


def test_a_sharded_run_has_its_repositories_and_a_summary_from_before_sharding_none():
    rows = [
        {"shard": "2026", "state": "active", "pushed_bytes": 5, "repo_size_bytes": 9, "closed": None},
        {"shard": "2025", "state": "archived", "pushed_bytes": 0, "repo_size_bytes": None, "closed": None},
        {"shard": "2024", "state": "active", "pushed_bytes": 1, "repo_size_bytes": 3, "closed": "archive/24"},
    ]
    row = row_of(BackupRun("r", D, "success", summary=_summary(repositories=rows)), RATES)
    assert [(r.shard, r.state, r.repo_size_bytes, r.pushed_bytes, r.closed) for r in row.repositories] == [
        ("2026", "active", 9, 5, None),
        ("2025", "archived", None, 0, None),
        ("2024", "active", 3, 1, "archive/24"),
    ]
    old = _summary(commit={"tag": "t", "repo_size_bytes": 9})
    del old["repositories"]
    assert row_of(BackupRun("r", D, "success", summary=old), RATES).repositories == ()
    assert row_of(BackupRun("r", D, "success", summary=_summary()), RATES).repositories == ()


@pytest.mark.parametrize(
    "repositories",
    [None, "2026", 7, {"shard": "2026"}, [None, 1, "x", [], {"shard": 5}, {"shard": ""}, {"state": "on"}]],
)
def test_malformed_repositories_are_none(repositories):
    summary = {**_summary(), "repositories": repositories}
    assert row_of(BackupRun("r", D, "success", summary=summary), RATES).repositories == ()


def test_repository_values_of_a_wrong_type_are_not_measured_and_names_are_bounded():
    rows = [
        {"shard": "<script>" + "x" * 5000, "state": "<b>", "repo_size_bytes": "9", "pushed_bytes": True},
        {"shard": "2026", "state": ["active"], "repo_size_bytes": -1, "pushed_bytes": 1.5, "closed": 7},
        {"shard": "2026", "state": "active", "repo_size_bytes": 4},  # named twice: the first row counts
        {"shard": "2025", "repo_size_bytes": 10**400, "closed": True},
        *({"shard": f"s{i}"} for i in range(2000)),
    ]
    summary = {**_summary(), "repositories": rows}
    repos = row_of(BackupRun("r", D, "success", summary=summary), RATES).repositories
    hostile, twice, huge = repos[:3]
    assert len(hostile.shard) == MAX_NAME and hostile.shard.startswith("<script>xx")
    assert (hostile.state, hostile.repo_size_bytes, hostile.pushed_bytes) == ("unknown", None, None)
    assert (twice.shard, twice.state, twice.repo_size_bytes, twice.pushed_bytes, twice.closed) == (
        "2026",
        "unknown",
        None,
        None,
        None,
    )
    assert (huge.repo_size_bytes, huge.closed) == (None, None)
    assert len(repos) == MAX_REPOSITORIES - 1  # the row named twice is one
