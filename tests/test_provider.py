"""The package is an Airflow provider: entry point, provider info, hooks, connection form, plugin."""

from __future__ import annotations

import json
import re
from importlib.metadata import entry_points

from airflow_gitsync import __version__
from airflow_gitsync.get_provider_info import get_provider_info


def test_entry_point_returns_the_provider_info():
    (entry,) = [
        e for e in entry_points(group="apache_airflow_provider") if e.value.startswith("airflow_gitsync")
    ]
    info = entry.load()()
    assert info["package-name"] == "airflow-gitsync"
    assert info["versions"] == [__version__]


def test_registered_classes_import():
    from airflow.sdk.module_loading import import_string

    info = get_provider_info()
    for conn in info["connection-types"]:
        assert import_string(conn["hook-class-name"]).conn_type == conn["connection-type"]
    for hook in info["hooks"]:
        for module in hook["python-modules"]:
            __import__(module)
    for plugin in info["plugins"]:
        assert import_string(plugin["plugin-class"]).timetables


def test_connection_form_marks_secrets_sensitive():
    (conn,) = get_provider_info()["connection-types"]
    fields = conn["conn-fields"]
    assert fields["client_secret"]["schema"]["format"] == "password"
    assert fields["ssh_private_key"]["schema"]["format"] == "password"
    assert conn["ui-field-behaviour"]["relabeling"]["password"] == "PAT"


def test_airflow_lists_the_provider_and_its_plugin(airflow_process):
    providers = airflow_process["providers list"]
    assert any(line.startswith("airflow-gitsync") and __version__ in line for line in providers.splitlines())
    plugins = airflow_process["plugins --output json"]
    listed = json.loads(plugins[re.search(r"^\[", plugins, re.MULTILINE).start() :])  # after any log lines
    ours = next(p for p in listed if p["name"] == "airflow_gitsync")
    assert ours["timetables"] == ["airflow_gitsync.timetables.DailyBackupTimetable"]
    assert [v["url_route"] for v in ours["external_views"]] == ["backups", "dag-backups", "backup-summary"]
    assert [a["url_prefix"] for a in ours["fastapi_apps"]] == ["/gitsync"]
