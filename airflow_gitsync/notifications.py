"""Failure alerts through Airflow's notifier mechanism, chosen in the ``[gitsync]`` config section.

``failure_notifier`` names a ``BaseNotifier`` class (e.g.
``airflow.providers.smtp.notifications.smtp.SmtpNotifier``) and ``failure_notifier_kwargs`` its
arguments as JSON (e.g. ``{"to": "data-platform@example.com"}``).
"""

from __future__ import annotations

from airflow.sdk import BaseNotifier
from airflow.sdk.module_loading import import_string

from airflow_gitsync.config import GitsyncConfig
from airflow_gitsync.errors import ConfigError


def failure_notifiers(config: GitsyncConfig) -> list[BaseNotifier]:
    """The configured failure notifiers (none when ``[gitsync] failure_notifier`` is unset)."""
    if not config.failure_notifier:
        return []
    notifier = import_string(config.failure_notifier)
    if not (isinstance(notifier, type) and issubclass(notifier, BaseNotifier)):
        raise ConfigError(
            f"[gitsync] failure_notifier {config.failure_notifier!r} is not a BaseNotifier class"
        )
    return [notifier(**config.failure_notifier_kwargs)]
