"""The Backups view's page load on a real API server: 400 dates of history, then 2,000.

``--database sqlite`` (default) or ``postgres``: a throwaway cluster (``initdb``/``pg_ctl`` from
``pg_config --bindir``, as the ``postgres`` user when run as root) on a free port in a temp dir.
Starts ``api-server`` + ``scheduler`` + ``dag-processor`` (:class:`LocalAirflow`) on a fresh home,
writes a synthetic history (:mod:`gitsync_devkit.backup_history`), and times authenticated GETs of
the 400-date page (the default page) over HTTP: the first (which imports the app) and the median of
the next ten. Then it adds 1,600 older dates and times the newest page again (one keyset query, so
the older rows must not cost anything). Prints a markdown line for ``RESULTS.md``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from datetime import date, datetime, timedelta
from pathlib import Path

from airflow_gitsync.compat import UTC
from gitsync_devkit.local_airflow import LocalAirflow

DAG_ID = "databricks_git_backup"
DAGS = Path(__file__).resolve().parents[1] / "dags"  # the backup DAG: the view answers for backup DAGs only


def _write(airflow: LocalAirflow, days: int, last: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "gitsync_devkit.backup_history", "--days", str(days), "--last", last],
        env=airflow.env,
        check=True,
        capture_output=True,
    )


def _times(airflow: LocalAirflow, url: str, n: int) -> list[float]:
    out = []
    for _ in range(n):
        started = time.perf_counter()
        response = airflow.session.get(url, timeout=60)
        out.append(time.perf_counter() - started)
        response.raise_for_status()
        # the history page itself, not a polite "not a backup DAG" (which a DAG folder without the
        # backup DAG gets, and which this benchmark timed without noticing until issue 26)
        if 'id="history"' not in response.text:
            raise SystemExit(f"{url} answered without the history table: {response.text[:300]}")
    return out


@contextmanager
def _postgres(tmp: str) -> Iterator[str]:
    """A throwaway PostgreSQL cluster; yields its SQLAlchemy URL."""
    bindir = subprocess.run(
        ["pg_config", "--bindir"], capture_output=True, text=True, check=True
    ).stdout.strip()
    data = Path(tmp, "pg")
    data.mkdir()
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_user:
        shutil.chown(tmp, "postgres")
        shutil.chown(data, "postgres")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    subprocess.run(
        [*as_user, f"{bindir}/initdb", "-D", str(data), "-U", "postgres", "--auth=trust"],
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1"
    subprocess.run(
        [*as_user, f"{bindir}/pg_ctl", "-D", str(data), "-o", options, "-l", f"{data}/log", "-w", "start"],
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"  # psycopg 3: sync and async
    finally:
        subprocess.run(
            [*as_user, f"{bindir}/pg_ctl", "-D", str(data), "-m", "fast", "stop"], capture_output=True
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    args = parser.parse_args()
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    with tempfile.TemporaryDirectory(prefix="bench-backups-view-") as tmp:
        os.chmod(tmp, 0o755)
        env = dict(os.environ) | {"AIRFLOW_HOME": f"{tmp}/home", "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS)}
        with _postgres(tmp) if args.database == "postgres" else nullcontext() as url:
            if url:
                env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = env[
                    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC"
                ] = url
            first, warm, size, deep = _measure(env, yesterday)
    print(
        f"| 400 dates, {args.database}, HTTP | first {first:.2f} s (imports the app) "
        f"| median {statistics.median(warm):.3f} s, max {max(warm):.3f} s | {size / 1024:,.0f} KiB "
        f"| with 2,000 dates in the table: median {statistics.median(deep):.3f} s |"
    )
    return 0


def _measure(env: dict[str, str], yesterday: date) -> tuple[float, list[float], int, list[float]]:
    """(first request, the next ten, page bytes, ten more with 2,000 dates in the table)."""
    with LocalAirflow(env) as airflow:
        airflow.wait(f"DAG {DAG_ID} to be parsed", lambda: airflow.api("GET", f"/dags/{DAG_ID}"))
        url = f"{airflow.url}/gitsync/dags/{DAG_ID}/backups"
        _write(airflow, 400, yesterday.isoformat())
        first, *warm = _times(airflow, url, 11)
        size = len(airflow.session.get(url, timeout=60).content)
        _write(airflow, 1600, (yesterday - timedelta(days=400)).isoformat())
        deep = _times(airflow, url, 10)
    return first, warm, size, deep


if __name__ == "__main__":
    sys.exit(main())
