"""The Airflow plugin of this provider: the backup timetable, and the Backups view in the UI.

The view is a FastAPI app under ``/gitsync`` (:mod:`airflow_gitsync.ui.app`) shown through external
views: **Backups** in the navigation (the default backup DAG), a *Backups* tab on every DAG's page,
and a *Backup summary* tab on every run's page. Every task loads plugins (for timetables), so the
app is imported on its first request, never when the plugin loads.
"""

from __future__ import annotations

from typing import Any

from airflow.plugins_manager import AirflowPlugin

from airflow_gitsync.timetables import DailyBackupTimetable

DEFAULT_DAG_ID = "databricks_git_backup"


class BackupsApp:
    """ASGI app that imports and runs :data:`airflow_gitsync.ui.app.app` on its first request."""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        from airflow_gitsync.ui.app import app

        await app(scope, receive, send)


class GitsyncPlugin(AirflowPlugin):
    name = "airflow_gitsync"
    timetables = [DailyBackupTimetable]
    fastapi_apps = [{"name": "Backups", "app": BackupsApp(), "url_prefix": "/gitsync"}]
    external_views = [
        {
            "name": "Backups",
            "href": f"gitsync/dags/{DEFAULT_DAG_ID}/backups",
            "destination": "nav",
            "url_route": "backups",
        },
        {
            "name": "Backups",
            "href": "gitsync/dags/{DAG_ID}/backups",
            "destination": "dag",
            "url_route": "dag-backups",
        },
        {
            "name": "Backup summary",
            "href": "gitsync/dags/{DAG_ID}/runs/{RUN_ID}",
            "destination": "dag_run",
            "url_route": "backup-summary",
        },
    ]
