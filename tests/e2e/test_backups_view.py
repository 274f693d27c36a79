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

The history browser (issue 26) reads a backup repository on the devkit's git server, written by the
backup's own :class:`~airflow_gitsync.git.snapshot.SnapshotEngine` (five daily backups of a few
notebooks, one of them changed four times, one deleted, one with markup in its workspace path): in
Chromium, a search while typing, the notebook's versions, a diff, a restore (its run and conf read back
through the REST API), and the same restore refused to a read-only user. ``GITSYNC_SCREENSHOTS=docs``
copies the README's screenshots of it into ``docs/``; by default they stay in the test's tmp dir.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
import requests

from airflow_gitsync.backup_report import human_size
from airflow_gitsync.compat import UTC
from airflow_gitsync.git.auth import GitAuth
from airflow_gitsync.git.packs import PackWriter
from airflow_gitsync.git.snapshot import ChangeSet, CommitInfo, SnapshotEngine
from airflow_gitsync.layout import to_repo_path
from airflow_gitsync.manifest import ManifestEntry
from airflow_gitsync.ui import frame
from airflow_gitsync.ui.history import BackupRow, history
from airflow_gitsync.workspace.client import DEFAULT_RATES
from gitsync_devkit.backup_history import generate, records
from gitsync_devkit.git_server import GitServer
from gitsync_devkit.local_airflow import ADMIN, PASSWORD, LocalAirflow
from tests.fixtures.git_server import GIT_TOKEN, GIT_USER

DAG_ID = "databricks_git_backup"
OTHER_DAG = "databricks_git_verify"  # not a backup: its tabs say so
REPO_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
SCRIPT = REPO_ROOT / "tests" / "ui" / "backups_view.mjs"
AZURE = "https://dev.azure.com/org/proj/_git/notebooks"
DAYS = 400
HISTORY_SCRIPT = REPO_ROOT / "tests" / "ui" / "history_browser.mjs"
HISTORY_CONN = "history_git"  # the git server's repository, named by the newest run's conf
RESTORE_DAG = "databricks_git_restore"
READER, READER_PASSWORD = "reader", "reader-pw"  # the simple auth manager's viewer: reads, triggers nothing
SCREENSHOTS = {  # the test's screenshots: the README's (GITSYNC_SCREENSHOTS=docs)
    "history-search.png": "history-search.png",
    "history-versions.png": "history-browser.png",
    "history-diff.png": "history-diff.png",
}
# One Airflow for the module: its tests stay on one pytest-xdist worker (`make test` runs two).
pytestmark = [pytest.mark.scheduler, pytest.mark.xdist_group("backups-view")]


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
def git_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitServer]:
    with GitServer(tmp_path_factory.mktemp("git-server"), user=GIT_USER, token=GIT_TOKEN) as server:
        server.create_repo("backup.git")
        yield server


def _browse(airflow: LocalAirflow, script: Path, *args: str) -> dict:
    """Run the browser ``script`` against ``airflow`` with ``args``; what it found (its last line)."""
    done = subprocess.run(
        ["node", str(script), airflow.url, *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}\n{airflow.logs()}"
    return json.loads(done.stdout.splitlines()[-1])


@pytest.fixture(scope="module")
def airflow(tmp_path_factory: pytest.TempPathFactory, git_server: GitServer) -> Iterator[LocalAirflow]:
    env = dict(os.environ) | {
        "AIRFLOW_HOME": str(tmp_path_factory.mktemp("airflow") / "airflow-home"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
        "AIRFLOW_CONN_AZURE_DEVOPS_GIT_DEFAULT": json.dumps(
            {"conn_type": "azure_devops_git", "host": AZURE, "password": "not-a-real-pat"}
        ),
        f"AIRFLOW_CONN_{HISTORY_CONN.upper()}": json.dumps(
            {
                "conn_type": "azure_devops_git",
                "host": git_server.url_for("backup.git"),
                "login": GIT_USER,
                "password": GIT_TOKEN,
            }
        ),
    }
    users = {"AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN}:admin,{READER}:viewer"}
    instance = LocalAirflow(env, extra=users)
    (instance.home / "passwords.json").write_text(json.dumps({ADMIN: PASSWORD, READER: READER_PASSWORD}))
    with instance:
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
    # issue 26: the checkout's egg-info on sys.path made the plugin load twice, "1 Plugin Import Error"
    assert airflow.api("GET", "/plugins/importErrors")["total_entries"] == 0
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
    print(f"the first Backups page at {DAYS} dates: {len(response.content):,} bytes")
    tagged = next(r for r in expected.rows if r.tag)
    assert f'href="{AZURE}?version=GT{tagged.tag}"' in response.text

    verify_run = _verify_run(airflow)
    for url in (f"/gitsync/dags/{OTHER_DAG}/backups", f"/gitsync/dags/{OTHER_DAG}/runs/{verify_run}"):
        answer = airflow.session.get(airflow.url + url, timeout=30)
        assert answer.status_code == 200 and "is not a backup DAG" in answer.text, answer.text[:300]

    token = airflow.session.headers["Authorization"].removeprefix("Bearer ")
    runs = [DAG_ID, run.run.run_id, OTHER_DAG, verify_run]
    found = _browse(airflow, SCRIPT, token, str(tmp_path), *runs)
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


NOTEBOOK = "2026/ENG-00001/NOTEBOOKS/forecast.py"
DELETED = "2025/ENG-00002/NOTEBOOKS/old_forecast.py"
MARKUP_NAME = "/Clients/2026/ENG-00001/NOTEBOOKS/forecast <img src=x onerror=alert(1)>"  # anyone's to choose
MARKUP = to_repo_path("/Clients", MARKUP_NAME, "NOTEBOOK", "PYTHON")  # forecast %3Cimg ... %3E.py
LINES = ["import pandas as pd", "df = spark.table('sales')", "display(df)"]
SALES_2026 = "df = spark.table('sales').where('year = 2026')"


def _notebook(lines: list[str]) -> bytes:
    return ("# Databricks notebook source\n" + "\n".join(lines) + "\n").encode()


# Five daily backups: {repo path: content, or None: deleted}. NOTEBOOK changes on four of them.
BACKUPS = [
    (
        date(2026, 10, 1),
        {
            NOTEBOOK: _notebook(LINES),
            DELETED: _notebook(["print('old')"]),
            MARKUP: _notebook(["print('<b>hostile</b>')"]),
            **{f"2026/ENG-00003/NOTEBOOKS/etl_{n}.py": _notebook([f"print({n})"]) for n in range(20)},
        },
    ),
    (date(2026, 10, 2), {NOTEBOOK: _notebook([LINES[0], SALES_2026, LINES[2], "df.count()"])}),
    (date(2026, 10, 3), {DELETED: None, "2026/ENG-00003/NOTEBOOKS/etl_1.py": _notebook(["print(1.1)"])}),
    (date(2026, 10, 4), {NOTEBOOK: _notebook([LINES[0], SALES_2026, LINES[2], "df.count()", "# v3"])}),
    (date(2026, 10, 5), {NOTEBOOK: _notebook([LINES[0], SALES_2026, "df.count()", "# v4" * 40])}),
]


def _write_backups(remote: str, cache_dir: Path) -> None:
    """Each of :data:`BACKUPS` as the backup's commit task writes it: its blobs indexed into the engine's
    mirror as a pack, then one ``apply`` (commit with the manifest, push, merge into main, tag)."""
    engine = SnapshotEngine(remote, auth=GitAuth.basic(GIT_USER, GIT_TOKEN), cache_dir=cache_dir)
    engine.sync()
    for day, files in BACKUPS:
        entries = []
        modified_at = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) * 1000
        with PackWriter() as pack:
            for n, (path, content) in enumerate(sorted(files.items())):
                if content is not None:
                    entries.append(
                        ManifestEntry(
                            repo_path=path,
                            workspace_path=MARKUP_NAME
                            if path == MARKUP
                            else f"/Clients/{path.removesuffix('.py')}",
                            object_id=n + 1,
                            object_type="NOTEBOOK",
                            language="PYTHON",
                            modified_at=modified_at,
                            blob_id=pack.put(content),
                        )
                    )
            if entries:
                engine.mirror.index_pack(pack.finish())
        deleted = [path for path, content in files.items() if content is None]
        info = CommitInfo(f"scheduled__{day}", f"{day}T00:00:00+00:00", f"{day}T02:00:00+00:00")
        engine.apply(ChangeSet(entries, deleted), info, tag=f"backup/{day}")


def _token(airflow: LocalAirflow, username: str, password: str) -> str:
    response = requests.post(
        f"{airflow.url}/auth/token", json={"username": username, "password": password}, timeout=30
    )
    response.raise_for_status()
    return response.json()["access_token"]


def _versions_of(path: str) -> list[tuple[date, str, bytes]]:
    """``(backup date, change, content)`` of each change of ``path`` in :data:`BACKUPS`, newest first."""
    changes, before = [], None
    for day, files in BACKUPS:
        if path in files and files[path] != before:
            changes.append((day, "added" if before is None else "changed", files[path]))
            before = files[path]
    return changes[::-1]


def test_the_history_browser_finds_compares_and_restores(
    airflow: LocalAirflow, git_server: GitServer, tmp_path: Path
):
    """Issue 26, in Chromium against this Airflow: find, a notebook's versions, a diff, a restore
    started from the view (its run's conf read back), and the same restore refused to a viewer."""
    _browser_ready()
    remote = git_server.url_for("backup.git")
    _write_backups(remote, tmp_path / "engine")
    # the newest run names the repository the view reads (its git connection; branch and tags default)
    airflow.trigger(DAG_ID, datetime.now(UTC).isoformat(), conf={"git_conn_id": HISTORY_CONN})
    # a search answers before the deleted paths are read (the first time, in the background): let them be
    find = f"{airflow.url}/gitsync/dags/{DAG_ID}/find"
    airflow.wait(
        "the deleted paths to be read",
        lambda: (
            "still being read" not in airflow.session.get(find, params={"q": "x", "part": 1}, timeout=60).text
        ),
        timeout=120,
    )
    admin = airflow.session.headers["Authorization"].removeprefix("Bearer ")
    reader = _token(airflow, READER, READER_PASSWORD)
    assert airflow.api("GET", f"/dags/{RESTORE_DAG}/dagRuns")["total_entries"] == 0

    found = _browse(airflow, HISTORY_SCRIPT, admin, reader, str(tmp_path), DAG_ID, "forecast", NOTEBOOK)
    assert found["errors"] == []  # CSP violations included

    search = found["search"]
    assert "q=forecast" in search["address"]  # the script answered while typing and kept the address
    assert [(r["path"], r["deleted"]) for r in search["rows"]] == [
        (path, False) for path in sorted([NOTEBOOK, MARKUP])
    ] + [(DELETED, True)], search
    markup = next(r for r in search["rows"] if r["path"] == MARKUP)
    assert markup["note"] == MARKUP_NAME  # the workspace path as text...
    assert (search["images"], search["scripts"]) == (0, 1)  # ... never an element
    assert "last in the backup of 2026-10-02 (backup/2026-10-02)" in search["rows"][-1]["note"]

    expected = _versions_of(NOTEBOOK)
    rows = found["versions"]["rows"]
    assert found["versions"]["title"] == "forecast.py"
    assert [(r["backup"], r["change"], r["size"]) for r in rows] == [
        (f"{day} (backup/{day})", change, human_size(len(content))) for day, change, content in expected
    ]
    assert [r["diff"] for r in rows] == [True] * (len(expected) - 1) + [False]
    assert all(r["restore"] for r in rows)
    assert rows[-1]["target"] == "/Restored/2026-10-01"

    diff = found["diff"]  # the oldest change: 2026-10-01 -> 2026-10-02
    assert diff["counts"].startswith("2 lines added, 1 removed."), diff
    assert [line for line in diff["removed"] if line] == [LINES[1]]
    assert [line for line in diff["added"] if line] == [SALES_2026, "df.count()"]
    assert diff["unified"] == {"removed": [f"- {LINES[1]}"], "added": [f"+ {SALES_2026}", "+ df.count()"]}

    restore = found["restore"]
    assert restore["status"] == 200 and restore["runId"] in restore["text"], restore
    assert restore["href"].endswith(
        f"/dags/{RESTORE_DAG}/runs/" + restore["runId"].replace(":", "%3A").replace("+", "%2B")
    )
    run = airflow.api("GET", f"/dags/{RESTORE_DAG}/dagRuns/{restore['runId']}")
    assert run["conf"] == {
        "ref": "backup/2026-10-01",
        "paths": [NOTEBOOK],
        "target_root": "/Restored/2026-10-01",
    }
    assert run["run_type"] == "manual" and run.get("triggering_user_name", ADMIN) == ADMIN, run

    refused = found["refused"]
    assert refused["rows"] == len(expected)  # a viewer reads the versions
    assert refused["status"] == 403, refused
    assert "not trigger the restore DAG" in refused["text"] and "{" not in refused["text"], refused
    assert airflow.api("GET", f"/dags/{RESTORE_DAG}/dagRuns")["total_entries"] == 1

    for name in ("history-search.png", "history-versions.png", "history-diff.png", "history-refused.png"):
        assert (tmp_path / name).stat().st_size > 10_000
    if target := os.environ.get("GITSYNC_SCREENSHOTS"):  # GITSYNC_SCREENSHOTS=docs refreshes the README's
        for shot, name in SCREENSHOTS.items():
            shutil.copyfile(tmp_path / shot, REPO_ROOT / target / name)
    print(f"screenshots: {tmp_path}/history-*.png")
