"""The ``[gitsync]`` section declared: every option once, with its type, default, description and
bounds. ``get_provider_info()["config"]`` publishes it (:func:`provider_config`), so Airflow knows
the section (``airflow config list --defaults`` shows it); :class:`~airflow_gitsync.config.GitsyncConfig`
reads it with the same defaults."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from airflow_gitsync.errors import ConfigError
from airflow_gitsync.git.mirror import LOCK_TIMEOUT
from airflow_gitsync.workspace.client import DEFAULT_MAX_RETRY_SECONDS, DEFAULT_MAX_WORKERS, DEFAULT_RATES

SECTION = "gitsync"
ENDPOINTS = tuple(DEFAULT_RATES)


@dataclass(frozen=True)
class Option:
    """One ``[gitsync]`` option: its name, type (``string``, ``integer``, ``float``), default text,
    description, an example, and the least and greatest value a number may take."""

    name: str
    type: str
    default: str
    description: str
    example: str | None = None
    minimum: float | None = None
    maximum: float | None = None


def _rate(endpoint: str, calls: str) -> Option:
    return Option(
        f"{endpoint}_rps",
        "float",
        f"{DEFAULT_RATES[endpoint]:g}",
        f"The workspace's rate limit for {calls}, in requests per second (Databricks' published "
        "per-workspace limit). All tasks of the backup and restore DAGs share it.",
        minimum=0.001,
    )


OPTIONS: tuple[Option, ...] = (
    Option(
        "staging_url",
        "string",
        "file://{AIRFLOW_HOME}/gitsync/staging",
        "Where exported notebooks wait between the export and commit tasks, keyed by git blob id. "
        "On several workers it must be shared by all of them, e.g. Azure Blob Storage / ADLS Gen2: "
        "abfs://<container>/<path>, the account in staging_conn_id.",
        example="abfs://gitsync/staging",
    ),
    Option(
        "staging_conn_id",
        "string",
        "",
        "Airflow connection for the staging store (e.g. a wasb connection for abfs://); empty for file://.",
        example="wasb_default",
    ),
    Option(
        "cache_dir",
        "string",
        "{AIRFLOW_HOME}/gitsync/mirrors",
        "Where each worker keeps its bare git mirror of the backup repository (rebuilt when missing).",
    ),
    Option(
        "browser_cache_dir",
        "string",
        "{AIRFLOW_HOME}/gitsync/browser",
        "Where the API server keeps its own blobless mirror of each backup repository for the Backups "
        "view's history browser: commits, trees, each newest manifest and the versions viewed.",
    ),
    Option(
        "browser_fetch_seconds",
        "float",
        "300",
        "The history browser fetches the backup repository at most this often, on a request.",
        minimum=1,
    ),
    _rate("export", "workspace/export calls"),
    _rate("list", "workspace/list calls"),
    _rate("import", "workspace/import calls (restore)"),
    _rate("other", "other workspace calls (get-status, mkdirs, delete)"),
    Option(
        "rate_limit_url",
        "string",
        "auto",
        "Where the tasks share the rate limits. auto: the Celery broker when the executor is "
        "Celery with a Redis broker (every worker draws from one limit), else local. local: files "
        "under cache_dir (every task on this machine; other machines and pods are held back by the "
        "workspace's 429s). redis://[:password@]host:port/db or rediss://...: every worker and pod "
        "that reaches this Redis.",
        example="redis://redis:6379/1",
    ),
    Option(
        "parallel_tasks",
        "integer",
        "4",
        "How many scan and export tasks of one run may run at once. Not a throughput knob: the "
        "tasks share the rate limits, whatever their number.",
        minimum=1,
    ),
    Option(
        "max_workers",
        "integer",
        str(DEFAULT_MAX_WORKERS),
        "Concurrent Workspace API requests inside one task.",
        minimum=1,
    ),
    Option(
        "export_task_calls",
        "integer",
        "200",
        "Workspace API calls per export task before the next engagement starts a new task (an "
        "engagement exported as one folder is one call; 1 = one task per engagement).",
        minimum=1,
    ),
    Option(
        "folder_export_min_objects",
        "integer",
        "2",
        "An engagement with at least this many notebooks to export (and see "
        "folder_export_min_share) is exported as one folder: one API call instead of one per "
        "notebook, checked against the listing; 0 turns folder exports off.",
        minimum=0,
    ),
    Option(
        "folder_export_min_share",
        "float",
        "0.25",
        "An engagement is exported as one folder only when its notebooks to export are at least "
        "this share of its objects: a folder export reads every object, changed or not (0: any).",
        minimum=0,
        maximum=1,
    ),
    Option(
        "max_retry_seconds",
        "float",
        f"{DEFAULT_MAX_RETRY_SECONDS:g}",
        "How long one Databricks call keeps retrying (429, 5xx, dropped connections) before its "
        "object or task fails.",
        minimum=0,
    ),
    Option(
        "task_retries",
        "integer",
        "2",
        "Retries of the tasks that talk to the network (exponential backoff from 30 s).",
        minimum=0,
    ),
    Option(
        "task_timeout_hours",
        "float",
        "6",
        "Every task of the backup, restore and verify DAGs fails after running this long (its "
        "execution_timeout), so a hung task ends. A full sync of 70,000 notebooks takes about 150 s "
        "on one machine and a full restore at least 40 min (70,000 imports at 30 a second): 6 h "
        "leaves room for a slow cluster or a workspace that throttles hard, and still ends a hung "
        "daily run long before the next one.",
        minimum=0.1,
        maximum=168,
    ),
    Option(
        "lock_timeout_minutes",
        "float",
        f"{LOCK_TIMEOUT / 60:g}",
        "How long a task waits for the worker's git mirror while another task holds it (logging the "
        "holder every minute) before it fails naming the holder. A backup commit holds it for seconds "
        "to minutes; a restore while it imports (a full one longer than this: the waiter's retries "
        "cover that).",
        minimum=1,
    ),
    Option(
        "staging_retention_days",
        "integer",
        "7",
        "After a successful commit the backup removes staged objects older than this many days that "
        "no run of the last this many days references, nor an unfinished run not yet superseded by "
        "a complete one (so such a run can still be cleared).",
        minimum=1,
    ),
    Option(
        "archive_after_days",
        "integer",
        "90",
        "With a repository per year (a git connection URL with {year}): a year's repository whose main "
        "branch has not changed for this many days is closed with an archive/<year> tag after a complete "
        "run, and daily runs no longer fetch it (they still list its year, and a change re-opens it). "
        "0 closes a repository at the first complete run that leaves it unchanged.",
        minimum=0,
    ),
    Option(
        "verify_sample_percent",
        "float",
        "3",
        "Share of the backed-up objects, in percent, that the verify DAG exports and compares by "
        "content in its sample mode (full mode: all of them).",
        minimum=0.001,
        maximum=100,
    ),
    Option(
        "failure_notifier",
        "string",
        "",
        "A BaseNotifier class called when a backup or restore run fails; empty for none.",
        example="airflow.providers.smtp.notifications.smtp.SmtpNotifier",
    ),
    Option(
        "failure_notifier_kwargs",
        "string",
        "",  # not "{}": Airflow str.format()s provider defaults
        "The failure notifier's arguments, as a JSON object (empty: none).",
        example='{"to": "data-platform@example.com"}',
    ),
)


def provider_config() -> dict[str, Any]:
    """The section as ``get_provider_info()["config"]`` declares it."""
    return {
        SECTION: {
            "description": "Deployment settings of the Databricks notebook backup (airflow-gitsync).",
            "options": {
                option.name: {
                    "description": option.description,
                    "version_added": "0.1.0",
                    "type": option.type,
                    "example": option.example,
                    "default": option.default,
                }
                for option in OPTIONS
            },
        }
    }


def parse(option: Option, text: str, airflow_home: str) -> Any:
    """``text`` as ``option``'s value; ``{AIRFLOW_HOME}`` in a string becomes ``airflow_home``."""
    text = text.strip()
    if option.type == "string":
        return text.replace("{AIRFLOW_HOME}", airflow_home)
    try:
        value = int(text) if option.type == "integer" else float(text)
    except ValueError:
        raise ConfigError(f"[{SECTION}] {option.name} = {text!r}: not {option.type}") from None
    if not math.isfinite(value):
        raise ConfigError(f"[{SECTION}] {option.name} = {text}: must be a finite number")
    if option.minimum is not None and value < option.minimum:
        raise ConfigError(f"[{SECTION}] {option.name} = {text}: must be at least {option.minimum:g}")
    if option.maximum is not None and value > option.maximum:
        raise ConfigError(f"[{SECTION}] {option.name} = {text}: must be at most {option.maximum:g}")
    return value
