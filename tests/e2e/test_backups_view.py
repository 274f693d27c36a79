"""The Backups view in a real Airflow and a real browser.

Starts ``api-server`` + ``scheduler`` + ``dag-processor`` (simple auth manager) once for the module,
writes 400 days of synthetic backup history into its database, and checks that the view's endpoints
answer 401/403 without valid credentials and 200 with them, that a 400-day page loads in under a
second, and that headless Chromium (Debian's, driven by playwright-core) shows the page inside
Airflow's UI: the nav entry, a row per run and per missing date with its backfill command, the four
plots with data points, and a run's summary tab; the verify DAG's tabs (a short line, not a 500) and
the page in Airflow's dark theme (issue 26). Screenshots are left in the test's tmp dir. Then that bad
dates and limits are a 422 (a readable page in a browser) and that no date makes a page unbounded
(issue 25).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import requests

from airflow_gitsync.compat import UTC
from airflow_gitsync.ui import frame
from airflow_gitsync.ui.history import BackupRow, history
from airflow_gitsync.workspace.client import DEFAULT_RATES
from gitsync_devkit.backup_history import generate, records
from gitsync_devkit.local_airflow import LocalAirflow

DAG_ID = "databricks_git_backup"
OTHER_DAG = "databricks_git_verify"  # not a backup: its tabs say so
REPO_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
SCRIPT = REPO_ROOT / "tests" / "ui" / "backups_view.mjs"
AZURE = "https://dev.azure.com/org/proj/_git/notebooks"
DAYS = 400
pytestmark = pytest.mark.scheduler


def _browser_ready() -> None:
    """Fail (never skip) naming what ``make install`` would have installed."""
    missing = [
        what
        for what, ok in (
            ("Debian's chromium package (apt-get install chromium)", CHROMIUM.exists()),
            ("node and npm (apt-get install nodejs npm)", shutil.which("node")),
            (
                "playwright-core from npm (make install runs npm ci)",
                (REPO_ROOT / "node_modules/playwright-core").is_dir(),
            ),
        )
        if not ok
    ]
    if missing:
        pytest.fail("the browser test needs " + "; ".join(missing))


@pytest.fixture(scope="module")
def airflow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalAirflow]:
    env = dict(os.environ) | {
        "AIRFLOW_HOME": str(tmp_path_factory.mktemp("airflow") / "airflow-home"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
        "AIRFLOW_CONN_AZURE_DEVOPS_GIT_DEFAULT": json.dumps(
            {"conn_type": "azure_devops_git", "host": AZURE, "password": "not-a-real-pat"}
        ),
    }
    with LocalAirflow(env) as instance:
        instance.wait(f"DAG {DAG_ID} to be parsed", lambda: instance.api("GET", f"/dags/{DAG_ID}"))
        subprocess.run(
            [sys.executable, "-m", "gitsync_devkit.backup_history", "--days", str(DAYS)],
            env=instance.env,
            check=True,
            capture_output=True,
        )
        yield instance


def _verify_run(airflow: LocalAirflow) -> str:
    """A verify run whose report pushed its summary (the shape that made the view answer 500)."""
    day = datetime.now(UTC).date() - timedelta(days=1)
    summary = {"complete": True, "commit": "0" * 40, "totals": {"listed": 3}, "failures": [], "api": {}}
    code = (
        "import sys, json, datetime; from gitsync_devkit.backup_history import Day, insert; "
        "insert(sys.argv[1], [Day(datetime.date.fromisoformat(sys.argv[2]), 'success', "
        "json.loads(sys.argv[3]), 60.0)])"
    )
    subprocess.run(
        [sys.executable, "-c", code, OTHER_DAG, day.isoformat(), json.dumps(summary)],
        env=airflow.env,
        check=True,
        capture_output=True,
    )
    return f"scheduled__{day.isoformat()}T00:00:00+00:00"


def test_backups_view_in_airflow_and_a_browser(airflow: LocalAirflow, tmp_path: Path):
    _browser_ready()
    today = datetime.now(UTC).date()
    expected = history(
        records(generate(today - timedelta(days=1), DAYS)),
        rates=DEFAULT_RATES,
        default_root="/Clients",
        until=today,
    )
    assert expected.gaps, "the generated history has dates without a run"
    page = f"{airflow.url}/gitsync/dags/{DAG_ID}/backups"

    assert requests.get(page, timeout=30).status_code == 401
    bad = requests.get(page, headers={"Authorization": "Bearer not-a-token"}, timeout=30)
    assert bad.status_code in (401, 403)
    run = next(r for r in expected.rows if r.run.summary)
    summary_url = f"{airflow.url}/gitsync/dags/{DAG_ID}/runs/{run.run.run_id}"
    assert requests.get(summary_url, timeout=30).status_code == 401
    assert airflow.session.get(summary_url, timeout=30).status_code == 200

    seconds = []
    for _ in range(4):
        started = time.perf_counter()
        response = airflow.session.get(page, timeout=30)
        seconds.append(time.perf_counter() - started)
        assert response.status_code == 200, response.text[:500]
    assert min(seconds[1:]) < 1.0, seconds  # the first request also imports the app
    assert len(response.content) < 300_000, len(response.content)  # issue 26: 880 KB
    tagged = next(r for r in expected.rows if r.tag)
    assert f'href="{AZURE}?version=GT{tagged.tag}"' in response.text

    verify_run = _verify_run(airflow)
    for url in (f"/gitsync/dags/{OTHER_DAG}/backups", f"/gitsync/dags/{OTHER_DAG}/runs/{verify_run}"):
        answer = airflow.session.get(airflow.url + url, timeout=30)
        assert answer.status_code == 200 and "is not a backup DAG" in answer.text, answer.text[:300]

    token = airflow.session.headers["Authorization"].removeprefix("Bearer ")
    runs = [DAG_ID, run.run.run_id, OTHER_DAG, verify_run]
    done = subprocess.run(
        ["node", str(SCRIPT), airflow.url, token, str(tmp_path), *runs],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}\n{airflow.logs()}"
    found = json.loads(done.stdout.splitlines()[-1])
    print(f"screenshots: {tmp_path}/backups.png, backups-table.png, summary.png, backups-dark.png")

    assert found["nav"] == 1 and found["errors"] == []  # CSP violations included
    assert found["styled"] == found["summary"]["styled"] == "collapse"  # the CSP lets the stylesheet apply
    shown = expected.entries()[: len(found["days"])]  # the newest rows; the rest on `table`
    assert len(shown) >= 50 and found["olderRows"] == 1
    assert found["days"] == [str(e.day if isinstance(e, BackupRow) else e.last) for e in shown]
    assert found["complete"] == sum(isinstance(e, BackupRow) and e.state == "complete" for e in shown)
    assert found["backfill"] == [g.command(DAG_ID) for g in expected.gaps if g in shown]
    assert found["missing"] == len(found["backfill"]) > 0
    points = dict(found["points"])
    assert len(points) == 4 and all(points.values()), points
    assert points["Repository size against Azure DevOps' 10 GB"] == sum(
        1 for r in expected.rows if r.repo_size_bytes
    )
    assert found["summary"]["title"] == f"Backup {run.day} ({run.run.run_id})"
    assert found["summary"]["tables"] >= 2
    assert found["summary"]["gridLink"].endswith(
        f"/dags/{DAG_ID}/runs/" + run.run.run_id.replace(":", "%3A").replace("+", "%2B")
    )
    assert found["summary"]["fits"]
    assert all("is not a backup DAG" in text for text in found["other"].values()), found["other"]
    assert found["dark"] == {"airflow": "dark", "background": "rgb(17, 20, 24)"}
    for name in ("backups.png", "backups-table.png", "summary.png", "backups-dark.png"):
        assert (tmp_path / name).stat().st_size > 10_000


def test_every_answer_carries_the_content_security_policy(airflow: LocalAirflow):
    page = f"{airflow.url}/gitsync/dags/{DAG_ID}/backups"
    run_id = airflow.api("GET", f"/dags/{DAG_ID}/dagRuns?limit=1")["dag_runs"][0]["dag_run_id"]
    answers = [
        airflow.session.get(page, timeout=30),
        airflow.session.get(f"{airflow.url}/gitsync/dags/{DAG_ID}/runs/{run_id}", timeout=30),
        airflow.session.get(page, params={"before": "0001-01-01"}, timeout=30),
        airflow.session.get(f"{airflow.url}/gitsync/nothing", timeout=30),
        requests.get(page, timeout=30),
    ]
    assert [a.status_code for a in answers] == [200, 200, 422, 404, 401]
    assert all(a.headers["Content-Security-Policy"] == frame.CSP for a in answers)


def test_a_browser_gets_errors_as_readable_pages(airflow: LocalAirflow):
    """Issue 26: 401 and 422 were raw JSON inside Airflow's UI; API clients keep Airflow's JSON."""
    page = f"{airflow.url}/gitsync/dags/{DAG_ID}/backups"
    html = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    unsigned = requests.get(page, headers=html, timeout=30)
    assert unsigned.status_code == 401 and "sign in again" in unsigned.text
    assert unsigned.headers["content-type"].startswith("text/html")
    bad = airflow.session.get(page, params={"before": "<yesterday>"}, headers=html, timeout=30)
    assert bad.status_code == 422 and "<li>before=&lt;yesterday&gt;: " in bad.text, bad.text
    assert bad.headers["Content-Security-Policy"] == frame.CSP


def test_bad_dates_and_limits_are_a_422_naming_the_parameter(airflow: LocalAirflow):
    page = f"{airflow.url}/gitsync/dags/{DAG_ID}/backups"
    for name, value in [
        ("before", "0001-01-01"),  # nothing is older
        ("before", "10000-01-01"),
        ("before", "2026-02-30"),
        ("before", "yesterday"),
        ("limit", "0"),
        ("limit", str(10**12)),
    ]:
        response = airflow.session.get(page, params={name: value}, timeout=30)
        assert response.status_code == 422, (name, value, response.status_code)
        assert [e["loc"] for e in response.json()["detail"]] == [["query", name]], response.text


def test_a_page_is_bounded_whatever_the_dates(airflow: LocalAirflow):
    """Issue 25: a run dated 1000-01-01 (the REST API takes it) or ``before=9999-12-31`` made pages of
    hundreds of MB, one slot per date without a run; a long gap is now one row and one plot slot."""
    airflow.trigger(DAG_ID, "1000-01-01T00:00:00Z")
    oldest = datetime.now(UTC).date() - timedelta(days=DAYS)  # the generated history's first run
    started = time.perf_counter()
    for route in ("backups", "table"):
        response = airflow.session.get(
            f"{airflow.url}/gitsync/dags/{DAG_ID}/{route}", params={"before": oldest.isoformat()}, timeout=120
        )
        assert response.status_code == 200 and len(response.content) < 100_000, len(response.content)
        assert f"1000-01-02 … {oldest - timedelta(days=1)}" in response.text
        assert response.text.count('<tr data-state="missing"') == 1

    page = f"{airflow.url}/gitsync/dags/{DAG_ID}/backups"
    newest = airflow.session.get(page, timeout=60)
    for limit in (400, 2000):
        response = airflow.session.get(page, params={"before": "9999-12-31", "limit": limit}, timeout=120)
        assert response.status_code == 200
        assert len(response.content) < 1.2 * len(newest.content) * limit / 400, len(response.content)
    assert time.perf_counter() - started < 30
