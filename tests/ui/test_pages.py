import base64
import hashlib
import re
from datetime import date, datetime, timedelta
from html.parser import HTMLParser

import pytest

from airflow_gitsync.backup_report import Summary
from airflow_gitsync.compat import UTC
from airflow_gitsync.ui import frame, pages, svg
from airflow_gitsync.ui.history import BackupRun, history, row_of, tag_url
from gitsync_devkit.backup_history import generate, records

RATES = {"export": 60.0, "list": 50.0}
AZURE = "https://dev.azure.com/org/proj/_git/repo"


class _Checker(HTMLParser):
    """Fails on tags that are closed without being opened (a sign of unescaped input)."""

    VOID = {"meta", "br", "hr", "img", "input", "link", "rect", "line", "circle", "polyline"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag, attrs):
        self.scripts += tag == "script"
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        pass

    def handle_endtag(self, tag):
        if tag not in self.VOID:
            assert self.stack and self.stack.pop() == tag, (tag, self.stack[-3:])


def _well_formed(html: str) -> None:
    checker = _Checker()
    checker.feed(html)
    assert checker.stack == ["html", "body"] or checker.stack == [], checker.stack
    assert checker.scripts == 0


def _page(runs, rows: int = 1000, **kwargs) -> str:
    result = history(runs, rates=RATES, default_root="/Clients", **kwargs)
    return pages.backups_page(
        "databricks_git_backup",
        result,
        ui_root="../../../",
        tag_link=lambda tag: tag_url(AZURE, tag),
        newer=None,
        older={"before": "2025-01-01", "limit": 400},
        rows=rows,
    )


def test_the_history_page_has_a_row_per_run_and_gap_and_four_plots():
    days = generate(date(2026, 11, 30), 120)
    html = _page(records(days), until=date(2026, 12, 1))
    _well_formed(html)
    missing = len(re.findall(r'<tr data-state="missing"', html))
    assert len(re.findall(r"<tr data-state=", html)) == len(days) + missing
    assert html.count('class="chart"') == 4
    assert 'href="?before=2025-01-01&amp;limit=400">older</a>' in html
    assert f'href="{AZURE}?version=GTbackup/2026-11-30"' in html
    assert (
        'href="../../../dags/databricks_git_backup/runs/scheduled__2026-11-30T00%3A00%3A00%2B00%3A00"' in html
    )
    assert 'href="runs/scheduled__2026-11-30T00%3A00%3A00%2B00%3A00">summary</a>' in html


def test_the_first_page_of_400_dates_is_under_300_kb_with_the_newest_rows_and_a_link_to_the_rest():
    """Issue 26: it was 880 KB (a tooltip per bar, the table of 400 dates)."""
    today = date(2026, 12, 1)
    days = generate(today - timedelta(days=1), 400)
    html = _page(records(days), rows=50, until=today)
    _well_formed(html)
    assert len(html.encode()) < 300_000, len(html.encode())
    assert html.count("<title>") < 1300
    dates = re.findall(r'<tr data-state="\w+" data-day="([\d-]+)"', html)
    assert 50 <= len(dates) < 55 and dates[0] == "2026-11-30"
    assert f'<a href="table?before={dates[-1]}">older rows</a>' in html

    cut = date.fromisoformat(dates[-1])
    result = history(records(d for d in days if d.day < cut), rates=RATES, default_root="/Clients", until=cut)
    table = pages.table_page(
        "databricks_git_backup", result, ui_root="../../../", tag_link=str, newer={"limit": 50}, older=None
    )
    _well_formed(table)
    assert 'class="chart"' not in table and '<a href="backups">' in table
    assert re.findall(r'<tr data-state="\w+" data-day="([\d-]+)"', table)[0] < dates[-1]


def test_a_dag_that_is_not_a_backup_gets_a_polite_line():
    html = pages.not_a_backup_page("databricks_git_verify<b>", ui_root="../../../")
    _well_formed(html)
    assert "databricks_git_verify&lt;b&gt; is not a backup DAG" in html
    assert '<a href="../../../plugin/backups" target="_top">' in html


def test_an_error_is_a_readable_page():
    html = frame.error_page(422, "A parameter is wrong:", ["before=<x>: not a date"])
    _well_formed(html)
    assert "<li>before=&lt;x&gt;: not a date</li>" in html and "HTTP 422" in html


def test_the_pages_follow_the_dark_theme_and_tables_scroll_in_a_narrow_panel():
    """Airflow's default theme follows the system's, which the view reads as prefers-color-scheme."""
    assert ":root{color-scheme:light dark}" in frame._CSS
    assert "@media (prefers-color-scheme:dark){" in frame._CSS
    assert ".wide,.summary table{display:block;max-width:100%;overflow-x:auto}" in frame._CSS


def test_a_missing_date_shows_the_command_that_fills_it():
    runs = [BackupRun("a", date(2026, 11, 3), "success"), BackupRun("b", date(2026, 11, 1), "success")]
    html = _page(runs, until=date(2026, 11, 4))
    command = (
        "airflow backfill create --dag-id databricks_git_backup --from-date 2026-11-02 --to-date 2026-11-02"
    )
    assert f'<code class="backfill">{command}</code>' in html
    assert "Missing dates (1)" in html


def test_no_runs_yet():
    assert "No runs of this DAG yet" in _page([])


def test_a_page_with_a_run_a_thousand_years_old_is_small():
    """Issue 25: the 370,000 dates without a run were as many slots in each plot (118 MB)."""
    runs = [BackupRun("new", date(2026, 11, 29), "success"), BackupRun("old", date(1000, 1, 1), "queued")]
    html = _page(runs, until=date(2026, 11, 30))
    _well_formed(html)
    assert len(html) < 50_000
    assert "1000-01-02 … 2026-11-28 (375,070 dates)" in html
    assert html.count('class="missing"') == 2  # one band in each per-day plot


def test_hostile_names_are_escaped():
    summary = Summary(commit={"head": "x"}, failures=[("/Clients/2024/<script>x</script>/N/a", "<b>bad</b>")])
    run = BackupRun("manual__<script>", date(2026, 11, 2), "failed", summary=summary.to_dict())
    html = _page([run])
    _well_formed(html)
    assert "<script>" not in html
    row = row_of(run, RATES)
    page = pages.summary_page("d", row, run_id=run.run_id, ui_root="", tag_link=lambda t: None)
    _well_formed(page)
    assert "<script>" not in page and "&lt;b&gt;bad&lt;/b&gt;" in page


def test_markdown_in_names_is_text_on_the_summary_page():
    """Issue 25: a notebook named ``![x](https://host/t.png)`` was an image fetched from that host."""
    image, link = "![x](https://host/t.png)", "[Re-login](https://host/login)"
    summary = Summary(commit={"head": "x"}, failures=[(f"/Clients/2024/E/NOTEBOOKS/{image}", link)])
    run = BackupRun("r", date(2026, 11, 2), "failed", summary=summary.to_dict())
    page = pages.summary_page("d", row_of(run, RATES), run_id="r", ui_root="", tag_link=lambda t: None)
    _well_formed(page)
    assert not [tag for tag in re.findall(r"<[^>]*>", page) if "host/" in tag or tag.startswith("<img")]
    assert f"<li>/Clients/2024/E/NOTEBOOKS/{image}: {link}</li>" in page


def test_the_pages_need_nothing_their_csp_forbids():
    """One inline stylesheet, allowed by its hash; no script, image, style attribute or remote load."""
    days = generate(date(2026, 11, 30), 30)
    row = row_of(records(days)[-1], RATES)
    for html in (
        _page(records(days), until=date(2026, 12, 1)),
        pages.summary_page("d", row, run_id="r", ui_root="", tag_link=lambda t: tag_url(AZURE, t)),
    ):
        (css,) = re.findall(r"<style>(.*?)</style>", html, re.S)
        digest = base64.b64encode(hashlib.sha256(css.encode()).digest()).decode()
        assert f"style-src 'sha256-{digest}';" in frame.CSP
        assert not re.search(r"<(script|img|link|iframe|object)\b| style=| src=|url\(", html)
    assert frame.CSP.startswith("default-src 'none';") and "unsafe" not in frame.CSP
    assert "frame-ancestors 'self'" in frame.CSP


def test_the_summary_page_is_the_report_as_html():
    summary = Summary(
        failures=[("/Clients/2024/ENG-1/NOTEBOOKS/" + "x" * 300, "over the 10 MB export limit")]
    )
    summary.per_year["2024"].update(added=3, modified=2)
    summary.durations["export"] = 12.5
    summary.commit = {"tag": "backup/2026-11-02", "commits": ["a"], "head": "a", "pushed_bytes": 2048}
    start = datetime(2026, 11, 2, 2, tzinfo=UTC)
    run = BackupRun(
        "r1", date(2026, 11, 2), "failed", start, start + timedelta(seconds=61), {}, summary.to_dict()
    )
    html = pages.summary_page(
        "databricks_git_backup",
        row_of(run, RATES),
        run_id="r1",
        ui_root="../../../../",
        tag_link=lambda t: None,
    )
    _well_formed(html)
    assert html.count("<table>") == 2  # per year, phases
    assert "<h2>Failed (1)</h2>" in html and "overflow-wrap:anywhere" in html
    assert '<span class="state partial">partial</span>' in html
    assert 'href="../../../../dags/databricks_git_backup/runs/r1" target="_top"' in html
    assert "no summary" in pages.summary_page(
        "d", row_of(BackupRun("r", date(2026, 11, 2), "running"), RATES), run_id="r", ui_root="", tag_link=str
    )


def test_summary_from_dict_is_the_inverse_of_to_dict():
    summary = Summary(failures=[("p", "r")], warnings=["w"], complete=False, commit={"tag": "t"})
    summary.per_year["2024"].update(added=1, failed=1)
    summary.api["export"].update(calls=3, http_429=1)
    summary.skipped_types["LIBRARY"] = 2
    summary.durations["scan"] = 1.5
    summary.peak_rss["scan"] = 7
    assert pages.summary_from_dict(summary.to_dict()).to_dict() == summary.to_dict()


def test_plots_mark_each_data_point_and_missing_day():
    days = [f"2026-11-0{d}" for d in (1, 2, 3)]
    chart = svg.bars(
        "Changed <notebooks>",
        days,
        [("added", "#0f0", [1, None, 0]), ("modified", "#00f", [2, None, 5])],
        str,
        missing=[days[1]],
        marker=("floor", "#000", [1.5, None, 2]),
    )
    assert chart.count('class="point"') == 2  # a column per day with a run
    assert "<title>2026-11-01: added 1, modified 2, floor 1.5</title>" in chart
    assert "<title>2026-11-03: modified 5, floor 2</title>" in chart
    assert chart.count("<path ") == 3  # one per series and the floor ticks
    assert chart.count('class="missing"') == 1
    assert "Changed &lt;notebooks&gt;" in chart
    points = [(date(2026, 11, 1), 1.0), (date(2026, 11, 3), 2.0)]
    line = svg.line("size", points, str, limit=("10", 10.0), trend=(1.0, 0.5))
    assert line.count('class="point"') == 2 and 'class="limit"' in line and 'class="trend"' in line
    bars = svg.hbars("f", [("2024/A", 3, "3 dates", True), ("2024/B", 1, "1 date", False)])
    assert bars.count('fill="#d33"') == 2  # one bar and its legend
    assert "none" in svg.hbars("f", [], empty="none")


def test_the_nice_axis_maximum():
    assert [svg._nice_max(v) for v in (0, 7, 10.5, 95, 3300)] == [1.0, 8, 12, 100, 4000]


def test_loading_the_plugin_does_not_import_the_app(airflow_process):
    """Every task loads plugins (timetables): the view's FastAPI app and Airflow's API stay unloaded."""
    assert airflow_process["plugin_imports"].splitlines()[-1] == "/gitsync []"


def test_external_views_are_relative_and_point_at_the_app():
    import inspect

    from airflow_gitsync.dags import backup_dag
    from airflow_gitsync.plugins import DEFAULT_DAG_ID, GitsyncPlugin

    assert inspect.signature(backup_dag).parameters["dag_id"].default == DEFAULT_DAG_ID
    views = {v["destination"]: v for v in GitsyncPlugin.external_views}
    assert set(views) == {"nav", "dag", "dag_run"}
    for view in views.values():
        assert view["href"].startswith("gitsync/") and view["url_route"]
    assert views["dag_run"]["href"] == "gitsync/dags/{DAG_ID}/runs/{RUN_ID}"


GIB, MIB = 1024**3, 1024**2


def _sharded(day: date, repositories, tag: str | None = "t") -> BackupRun:
    summary = Summary(commit={"tag": tag} if tag else {}, repositories=list(repositories)).to_dict()
    return BackupRun(f"r{day}", day, "success", summary=summary)


def _repo(shard, state="active", size=None, pushed=0, closed=None) -> dict:
    return {
        "shard": shard,
        "url": f"https://dev.azure.com/o/p/_git/n-{shard}",
        "state": state,
        "tag": None,
        "pushed_bytes": pushed,
        "repo_size_bytes": size,
        "size_warning": None,
        "closed": closed,
        "error": "",
    }


def _repository_rows(html: str) -> dict[str, list[str]]:
    (table,) = re.findall(r'<table id="repositories".*?</table>', html, re.S)
    return {
        shard: [re.sub(r"<[^>]+>", "", cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", cells)]
        for shard, cells in re.findall(r'<tr data-shard="([^"]*)">(.*?)</tr>', table)
    }


def test_a_sharded_page_has_a_row_per_repository_with_its_size_and_forecast():
    first = date(2026, 11, 1)
    runs = []
    for i in range(10):
        day = first + timedelta(days=i)
        year_2025 = (
            _repo("2025", size=2 * GIB, closed="archive/2025" if i == 4 else None)
            if i <= 4
            else _repo("2025", state="archived")
        )
        grown = _repo("2026", size=5 * GIB + i * 512 * MIB, pushed=3 * MIB)
        runs.append(_sharded(day, [grown, year_2025, _repo("other")]))
    html = _page(runs, until=first + timedelta(days=10))
    _well_formed(html)
    assert "<h2>Repositories (3)</h2>" in html
    assert _repository_rows(html) == {
        "2026": ["2026", "active", "9.5 GiB", "95.0%", "+512.0 MiB/day", "around 2026-11-11", "3.0 MiB"],
        "2025": [
            "2025",
            "archived closed (archive/2025)",
            "2.0 GiB on 2026-11-05",
            "20.0%",
            "not growing",
            "closed",
            "0 B",
        ],
        "other": ["other", "active", "not measured", "", "-", "fewer than two measured dates", "0 B"],
    }
    assert list(_repository_rows(html)) == ["2026", "2025", "other"]  # the newest run's order


def test_a_repository_seen_only_in_older_runs_keeps_its_row_and_the_rows_are_capped():
    first = date(2026, 11, 1)
    older = _sharded(first, [_repo("2024", size=GIB), _repo("2025", size=GIB)])
    newer = _sharded(first + timedelta(days=1), [_repo(f"{y}", size=GIB) for y in range(1900, 2025)])
    rows = _repository_rows(_page([older, newer]))
    assert len(rows) == pages.MAX_REPOSITORY_ROWS and "2025" not in rows and "1900" in rows
    html = _page([older, newer])
    assert "<h2>Repositories (126)</h2>" in html and "26 more repositories are not shown." in html
    newest = _sharded(first + timedelta(days=1), [_repo("2026")])
    assert list(_repository_rows(_page([newest, _sharded(first, [_repo("2025")])]))) == ["2026", "2025"]


def test_a_hostile_repository_name_is_escaped_and_bounded():
    name = "<script>alert(1)</script>" + "x" * 100_000
    runs = [
        _sharded(date(2026, 11, d), [_repo(name, state='"><b>', size=GIB * d, closed="<i>" * 100)])
        for d in (1, 2)
    ]
    html = _page(runs)
    _well_formed(html)
    (table,) = re.findall(r'<table id="repositories".*?</table>', html, re.S)
    assert "<script>" not in html and "<b>" not in table and "<i>" not in table
    assert len(html) < 60_000
    (shard,) = _repository_rows(html)
    assert shard.startswith("&lt;script&gt;alert(1)&lt;/script&gt;xxx") and len(shard) < 200
    assert _repository_rows(html)[shard][1].startswith("unknown closed (&lt;i&gt;")


@pytest.mark.parametrize(
    "repositories",
    [
        "missing",
        [],
        None,
        "<script>",
        {"shard": "2026"},
        [None, 5, "2026", {"shard": 2026, "repo_size_bytes": GIB}, {"state": "active"}],
    ],
)
def test_a_page_without_valid_repositories_renders_as_before(repositories):
    days = generate(date(2026, 11, 30), 30)
    runs = records(days)
    plain = [BackupRun(r.run_id, r.day, r.state, r.start, r.end, r.conf, _without(r.summary)) for r in runs]
    changed = [
        BackupRun(r.run_id, r.day, r.state, r.start, r.end, r.conf, _with(r.summary, repositories))
        for r in runs
    ]
    expected = _page(plain, until=date(2026, 12, 1))
    assert _page(changed, until=date(2026, 12, 1)) == expected
    assert "Repositories" not in expected and 'id="repositories"' not in expected


def _without(summary):
    return None if summary is None else {k: v for k, v in summary.items() if k != "repositories"}


def _with(summary, repositories):
    if summary is None or repositories == "missing":
        return _without(summary)
    return {**summary, "repositories": repositories}
