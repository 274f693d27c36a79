"""Airflow names the provider uses, from where the running minor has them: Airflow 3.1 keeps the task
exceptions, ``conf`` and ``Stats`` outside ``airflow.sdk``, where 3.2 moved them."""

from __future__ import annotations

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

__all__ = ["AirflowFailException", "AirflowNotFoundException", "AirflowSkipException", "Stats", "conf"]
