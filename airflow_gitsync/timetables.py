"""The backup's schedule: daily at a fixed UTC time, with the day itself as the logical date.

Airflow's cron timetables give a 02:00 run the logical date ``D 02:00``, so ``airflow backfill
create --from-date D --to-date D`` (both midnight) finds no run. This timetable keeps the 02:00
trigger but makes the run's data interval ``[D 00:00, D 02:00]``: its logical date is ``D``, the
backup date its tag carries, and a one-day backfill window selects exactly that run.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.timetables.base import DagRunInfo, DataInterval, TimeRestriction
from airflow.timetables.trigger import CronTriggerTimetable


class DailyBackupTimetable(CronTriggerTimetable):
    """Every day at ``at`` (``HH:MM``, UTC); the run's logical date is that day at 00:00."""

    def __init__(self, at: str = "02:00") -> None:
        try:
            hour, minute = (int(part) for part in at.split(":"))
            valid = 0 <= hour < 24 and 0 <= minute < 60
        except ValueError:
            valid = False
        if not valid:
            raise ValueError(f"DailyBackupTimetable at={at!r}: expected HH:MM")
        super().__init__(
            f"{minute} {hour} * * *", timezone="UTC", interval=timedelta(hours=hour, minutes=minute)
        )
        self._at = at
        self.description = f"Daily at {at} UTC, logical date = that day"

    def __eq__(self, other: object) -> bool:
        # Airflow's cron timetables import its serialization encoders to compare (0.1 s), and every
        # task process compares the DAG's timetable with itself while it parses the DAG file.
        if not isinstance(other, DailyBackupTimetable):
            return NotImplemented
        return self._at == other._at

    def __hash__(self) -> int:
        return hash(self._at)

    @property
    def summary(self) -> str:
        return f"daily at {self._at} UTC"

    def serialize(self) -> dict[str, Any]:
        return {"at": self._at}

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> DailyBackupTimetable:
        return cls(data["at"])

    def next_dagrun_info(
        self, *, last_automated_data_interval: DataInterval | None, restriction: TimeRestriction
    ) -> DagRunInfo | None:
        # The window bounds logical dates (the day); the run itself fires ``at`` later that day.
        if restriction.latest is not None:
            restriction = TimeRestriction(
                restriction.earliest, restriction.latest + self._interval, restriction.catchup
            )
        return super().next_dagrun_info(
            last_automated_data_interval=last_automated_data_interval, restriction=restriction
        )
