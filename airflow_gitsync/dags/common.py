"""What the provider's DAGs share: the trigger form from a params declaration, and fail-fast errors."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from airflow.sdk import Param
from airflow.sdk.exceptions import AirflowFailException, AirflowNotFoundException

from airflow_gitsync.config import ConfigError
from airflow_gitsync.git.runner import GitAuthError
from airflow_gitsync.results import XComKey
from airflow_gitsync.settings import ParamSpec, SettingsError
from airflow_gitsync.workspace.client import AuthError

# Errors that a retry cannot fix: a bad param or setting, refused credentials, a missing connection.
PERMANENT_ERRORS = (SettingsError, ConfigError, AuthError, GitAuthError, AirflowNotFoundException)


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
