"""The history browser with a repository per year: a readable page, not a server error (issue 28)."""

from __future__ import annotations

import json

from airflow_gitsync.ui import app


def test_a_sharded_connection_gets_a_page_saying_the_browser_reads_one_repository(monkeypatch):
    connection = {"conn_type": "azure_devops_git", "host": "https://dev.azure.com/o/p/_git/nb-{year}"}
    monkeypatch.setenv("AIRFLOW_CONN_AZURE_DEVOPS_GIT_DEFAULT", json.dumps(connection))
    monkeypatch.setattr(app, "_is_backup", lambda session, dag_id: True)
    monkeypatch.setattr(app, "backup_runs", lambda session, dag_id, limit: [])

    page = app._reading(None, "databricks_git_backup", lambda repository: "never read")

    assert "HTTP 501" in page and "one per year (ADR 0007)" in page
