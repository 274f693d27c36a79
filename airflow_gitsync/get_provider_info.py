"""Provider metadata read by Airflow's ProvidersManager (entry point ``apache_airflow_provider``)."""

from __future__ import annotations

from airflow_gitsync import __version__


def get_provider_info() -> dict:
    return {
        "package-name": "airflow-gitsync",
        "name": "Databricks Git Sync",
        "description": "Back up a Databricks workspace's notebooks into a Git repository on Azure DevOps.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "Azure DevOps Git",
                "external-doc-url": "https://learn.microsoft.com/azure/devops/repos/git/",
                "tags": ["software"],
            },
            {
                "integration-name": "Databricks Workspace",
                "external-doc-url": "https://docs.databricks.com/api/workspace/workspace",
                "tags": ["service"],
            },
        ],
        "hooks": [
            {
                "integration-name": "Azure DevOps Git",
                "python-modules": ["airflow_gitsync.hooks.azure_devops_git"],
            },
            {
                "integration-name": "Databricks Workspace",
                "python-modules": ["airflow_gitsync.hooks.databricks_workspace"],
            },
        ],
        "plugins": [{"name": "airflow_gitsync", "plugin-class": "airflow_gitsync.plugins.GitsyncPlugin"}],
        "connection-types": [
            {
                "hook-class-name": "airflow_gitsync.hooks.azure_devops_git.AzureDevOpsGitHook",
                "connection-type": "azure_devops_git",
            },
        ],
    }
