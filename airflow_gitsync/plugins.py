"""The Airflow plugin of this provider: registers the backup timetable so DAGs using it serialize."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from airflow_gitsync.timetables import DailyBackupTimetable


class GitsyncPlugin(AirflowPlugin):
    name = "airflow_gitsync"
    timetables = [DailyBackupTimetable]
