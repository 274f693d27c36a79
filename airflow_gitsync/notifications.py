"""Failure alerts through Airflow's notifier mechanism, chosen in the ``[gitsync]`` config section.

``failure_notifier`` names a ``BaseNotifier`` class (e.g.
``airflow.providers.smtp.notifications.smtp.SmtpNotifier``) and ``failure_notifier_kwargs`` its
arguments as JSON (e.g. ``{"to": "data-platform@example.com"}``).
"""

from __future__ import annotations

import json

from airflow.sdk import BaseNotifier, conf
from airflow.sdk.module_loading import import_string


def failure_notifiers() -> list[BaseNotifier]:
    """The configured failure notifiers (none when ``[gitsync] failure_notifier`` is unset)."""
    path = conf.get("gitsync", "failure_notifier", fallback="")
    if not path:
        return []
    raw = conf.get("gitsync", "failure_notifier_kwargs", fallback="{}")
    try:
        kwargs = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"[gitsync] failure_notifier_kwargs is not JSON: {exc}") from exc
    notifier = import_string(path)
    if not (isinstance(notifier, type) and issubclass(notifier, BaseNotifier)):
        raise ValueError(f"[gitsync] failure_notifier {path!r} is not a BaseNotifier class")
    return [notifier(**kwargs)]
