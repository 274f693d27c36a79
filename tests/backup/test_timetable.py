from datetime import timedelta

import pendulum
import pytest
from airflow.timetables.base import DataInterval, TimeRestriction

from airflow_gitsync.timetables import DailyBackupTimetable

DAY = pendulum.datetime(2026, 11, 8, tz="UTC")


def test_scheduled_run_fires_at_two_with_the_day_as_logical_date():
    info = DailyBackupTimetable().next_dagrun_info(
        last_automated_data_interval=DataInterval(DAY - timedelta(days=1), DAY - timedelta(hours=22)),
        restriction=TimeRestriction(DAY - timedelta(days=30), None, catchup=True),
    )
    assert info.logical_date == DAY
    assert info.run_after == DAY + timedelta(hours=2)


def test_one_day_backfill_window_selects_exactly_that_day():
    timetable = DailyBackupTimetable()
    restriction = TimeRestriction(DAY, DAY, catchup=True)
    first = timetable.next_dagrun_info(last_automated_data_interval=None, restriction=restriction)
    assert first.logical_date == DAY
    assert (
        timetable.next_dagrun_info(last_automated_data_interval=first.data_interval, restriction=restriction)
        is None
    )


def test_serialization_round_trip_and_bad_time():
    timetable = DailyBackupTimetable("03:30")
    assert DailyBackupTimetable.deserialize(timetable.serialize()).summary == "daily at 03:30 UTC"
    with pytest.raises(ValueError, match="HH:MM"):
        DailyBackupTimetable("25:00")
