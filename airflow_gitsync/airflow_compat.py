"""Airflow names and arguments the provider uses, as the running minor has them: Airflow 3.1 keeps the task
exceptions, ``conf`` and ``Stats`` outside ``airflow.sdk``, where 3.2 moved them."""

from __future__ import annotations

from airflow import __version__ as airflow_version
from packaging.version import Version

try:
    from airflow.sdk import conf  # noqa: TID251
    from airflow.sdk.exceptions import (  # noqa: TID251
        AirflowFailException,
        AirflowNotFoundException,
        AirflowSkipException,
    )
    from airflow.sdk.observability.stats import Stats  # noqa: TID251
except ImportError:  # Airflow 3.1
    from airflow.configuration import conf
    from airflow.exceptions import (
        AirflowFailException,
        AirflowNotFoundException,
        AirflowSkipException,
    )
    from airflow.stats import Stats

AIRFLOW_V_3_2_PLUS = Version(Version(airflow_version).base_version) >= Version("3.2.0")
# A task's retry delay doubling at each try: ``retry_exponential_backoff`` is a multiplier from Airflow
# 3.2, a flag in 3.1 (whose backoff doubles the delay too).
DOUBLING_BACKOFF: float | bool = 2.0 if AIRFLOW_V_3_2_PLUS else True

__all__ = [
    "AIRFLOW_V_3_2_PLUS",
    "DOUBLING_BACKOFF",
    "AirflowFailException",
    "AirflowNotFoundException",
    "AirflowSkipException",
    "Stats",
    "conf",
]
