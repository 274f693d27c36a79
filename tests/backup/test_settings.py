from datetime import datetime

import pytest

from airflow_gitsync.settings import BackupSettings, SettingsError


def test_defaults_match_the_documented_params():
    settings = BackupSettings.from_params({})
    assert settings.workspace_root == "/Clients"
    assert (settings.branch, settings.working_branch) == ("main", "backup/daily")
    assert settings.tag_for(datetime(2026, 11, 27, 2)) == "backup/2026-11-27"
    assert settings.commit_batch_size == 1000
    assert (settings.databricks_conn_id, settings.git_conn_id) == (
        "databricks_default",
        "azure_devops_git_default",
    )


def test_params_override_and_round_trip():
    params = {"years": ["2024", " 2025 ", ""], "full_scan": True, "dry_run": True, "extra": 1}
    settings = BackupSettings.from_params(params)
    assert settings.years == ("2024", "2025")
    assert BackupSettings.from_params(settings.to_dict()) == settings


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"workspace_root": "Clients"}, "workspace_root"),
        ({"workspace_root": "/Clients/"}, "workspace_root"),
        ({"branch": "main..x"}, "branch"),
        ({"working_branch": "backup daily"}, "working_branch"),
        ({"working_branch": "main"}, "working_branch"),
        ({"tag_format": "backup/latest"}, "tag_format"),
        ({"tag_format": "backup/%Y-%m-%d~1"}, "tag_format"),
        ({"commit_batch_size": 0}, "commit_batch_size"),
        ({"years": ["../2024"]}, "years"),
        ({"git_conn_id": ""}, "git_conn_id"),
    ],
)
def test_bad_params_name_the_param(params, named):
    with pytest.raises(SettingsError, match=named):
        BackupSettings.from_params(params)
