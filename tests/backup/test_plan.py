import json

import pytest

from airflow_gitsync import tasks
from airflow_gitsync.settings import SettingsError
from airflow_gitsync.staging import StagingStore


def _engagement(partition, exports=0, deletions=0):
    obj = {
        "workspace_path": f"/Clients/{partition}/NOTEBOOKS/x",
        "repo_path": f"{partition}/NOTEBOOKS/x.py",
        "object_id": 1,
        "object_type": "NOTEBOOK",
        "language": "PYTHON",
        "modified_at": 1,
        "reason": "added",
        "previous_blob_id": None,
    }
    return {
        "partition": partition,
        "to_export": [obj] * exports,
        "deleted": [f"{partition}/NOTEBOOKS/gone{i}.py" for i in range(deletions)],
        "unchanged": 0,
        "failed": [],
        "in_layout": True,
    }


SCANS = [
    {"unit": "2024", "engagements": [_engagement("2024/B", 3), _engagement("2024/A", 1, 1)]},
    {"unit": "2025", "engagements": [_engagement("2025/C", 5), _engagement("2025/D")]},
]
UNITS = [{"unit": "2024"}, {"unit": "2025"}, {"unit": "2026"}]


@pytest.fixture(autouse=True)
def staging(tmp_path, monkeypatch):
    monkeypatch.setenv("AIRFLOW__GITSYNC__STAGING_URL", f"file://{tmp_path}")
    return StagingStore(tmp_path)


def test_engagements_share_a_task_up_to_the_batch_size(staging):
    planned = tasks.plan(UNITS, SCANS, max_map_length=1024, batch_objects=4)
    assert [e["partition"] for e in planned["engagements"]] == ["2024/B", "2024/A", "2025/C"]
    assert planned["missing_units"] == ["2026"]
    labels = [t["label"] for t in planned["export_tasks"]]
    assert labels == ["2024/A … 2024/B (2 engagements)", "2025/C"]
    staged = [json.loads(staging.get(t["changes_blob"])) for t in planned["export_tasks"]]
    assert [[e["partition"] for e in group] for group in staged] == [["2024/A", "2024/B"], ["2025/C"]]


def test_batch_size_one_is_one_task_per_engagement():
    planned = tasks.plan(UNITS, SCANS, max_map_length=1024, batch_objects=1)
    assert [t["label"] for t in planned["export_tasks"]] == ["2024/A", "2024/B", "2025/C"]


def test_too_many_tasks_names_the_setting():
    with pytest.raises(SettingsError, match=r"max_map_length = 2.*export_batch_objects"):
        tasks.plan(UNITS, SCANS, max_map_length=2, batch_objects=1)
