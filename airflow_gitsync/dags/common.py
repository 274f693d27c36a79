"""What the provider's DAGs share: the trigger form from a params declaration, fail-fast errors, and
task logs kept to what a user reads."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import Param

from airflow_gitsync.airflow_compat import DOUBLING_BACKOFF, AirflowFailException, AirflowNotFoundException
from airflow_gitsync.config import GitsyncConfig
from airflow_gitsync.errors import PermanentError
from airflow_gitsync.notifications import failure_notifiers
from airflow_gitsync.params import ParamSpec
from airflow_gitsync.results import XComKey

# Errors that a retry of the same task cannot fix: the provider's own, and a missing connection.
PERMANENT_ERRORS = (PermanentError, AirflowNotFoundException)

# Every task of the provider's DAGs imports this module (its DAG file is parsed in the task's process).
# On abfs:// (staging, the object storage XCom backend) the Azure SDK logs each request's and answer's
# headers at INFO: dozens of blocks per task log. Its warnings and errors still show.
AZURE_HTTP_LOGGER = "azure.core.pipeline.policies.http_logging_policy"
logging.getLogger(AZURE_HTTP_LOGGER).setLevel(logging.WARNING)


def trigger_form(
    specs: tuple[ParamSpec, ...], overrides: Mapping[str, Any] | None = None
) -> dict[str, Param]:
    """The DAG's ``params``: one ``Param`` per declared param, defaults replaced by ``overrides``."""
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - {s.name for s in specs})
    if unknown:
        raise ValueError(f"unknown params {unknown}; known: {[s.name for s in specs]}")
    form = {}
    for spec in specs:
        default = overrides.get(spec.name, spec.default)
        spec.validate(default)
        form[spec.name] = Param(default, title=spec.title, description=spec.description, **spec.schema)
    return form


def dag_arguments(
    config: GitsyncConfig,
    specs: tuple[ParamSpec, ...],
    params: Mapping[str, Any] | None,
    *,
    schedule: Any,
    doc_md: str | None,
    tag: str,
    dag_kwargs: Mapping[str, Any],
) -> dict[str, Any]:
    """What the provider's DAGs have in common (one run at a time, failure notifiers, the trigger
    form from ``specs`` with ``params`` as new defaults, every task's ``execution_timeout``),
    overridden by the caller's ``dag_kwargs`` (their ``default_args`` key by key)."""
    dag_kwargs = dict(dag_kwargs)
    own_default_args = dag_kwargs.pop("default_args", None) or {}
    return {
        "schedule": schedule,
        "start_date": pendulum.datetime(2026, 1, 1, tz="UTC"),
        "catchup": False,
        "max_active_runs": 1,
        "doc_md": doc_md,
        "tags": ["databricks", "git", tag],
        "on_failure_callback": failure_notifiers(config),
        "params": trigger_form(specs, params),
        "default_args": {"execution_timeout": config.task_timeout, **own_default_args},
    } | dag_kwargs


def network_retries(config: GitsyncConfig) -> dict[str, Any]:
    """The task arguments of every task that talks to the workspace or the git remote: ``[gitsync]
    task_retries`` retries, backing off from 30 s to at most 10 min; no return value in the log."""
    return {
        "retries": config.task_retries,
        "retry_delay": timedelta(seconds=30),
        "retry_exponential_backoff": DOUBLING_BACKOFF,
        "max_retry_delay": timedelta(minutes=10),
        "show_return_value_in_logs": False,
    }


@contextmanager
def failing_fast(ti: Any = None) -> Iterator[None]:
    """Turn errors that a retry cannot fix into ``AirflowFailException`` (one try, no retries), and
    with ``ti`` push the error's message under the XCom key ``error`` for the run's report."""
    try:
        yield
    except Exception as exc:
        if ti is not None:
            ti.xcom_push(key=XComKey.ERROR, value=f"{type(exc).__name__}: {exc}")
        if isinstance(exc, PERMANENT_ERRORS):
            raise AirflowFailException(f"{exc} (not retried: retrying cannot fix this)") from exc
        raise
