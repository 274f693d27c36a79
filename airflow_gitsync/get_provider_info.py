"""Provider metadata read by Airflow's ProvidersManager (entry point ``apache_airflow_provider``)."""

from __future__ import annotations

from airflow_gitsync import __version__
from airflow_gitsync.options import provider_config


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
        "config": provider_config(),
        "plugins": [{"name": "airflow_gitsync", "plugin-class": "airflow_gitsync.plugins.GitsyncPlugin"}],
        "connection-types": [
            {
                "hook-class-name": "airflow_gitsync.hooks.azure_devops_git.AzureDevOpsGitHook",
                "hook-name": "Azure DevOps Git",
                "connection-type": "azure_devops_git",
                "conn-fields": {
                    "tenant_id": {
                        "label": "Tenant ID",
                        "schema": {"type": ["string", "null"]},
                        "description": "Microsoft Entra tenant of the service principal",
                    },
                    "client_id": {
                        "label": "Client ID",
                        "schema": {"type": ["string", "null"]},
                        "description": "Service principal or user-assigned managed identity client id",
                    },
                    "client_secret": {
                        "label": "Client secret",
                        "schema": {"type": ["string", "null"], "format": "password"},
                    },
                    "use_managed_identity": {
                        "label": "Use managed identity",
                        "schema": {"type": ["boolean", "null"], "default": False},
                    },
                    "use_default_azure_credential": {
                        "label": "Use DefaultAzureCredential",
                        "schema": {"type": ["boolean", "null"], "default": False},
                    },
                    "ssh_private_key": {
                        "label": "SSH private key",
                        "schema": {"type": ["string", "null"], "format": "password"},
                        "description": "For an ssh:// or git@ repository URL",
                    },
                    "unsharded_url": {
                        "label": "Single repository before sharding",
                        "schema": {"type": ["string", "null"]},
                        "description": "With a repository URL holding {year}: the one repository backed "
                        "up to before the switch, whose tags keep the earlier backups",
                    },
                },
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "port"],
                    "relabeling": {
                        "host": "Repository URL",
                        "login": "User name (optional)",
                        "password": "PAT",
                    },
                    "placeholders": {
                        "host": "https://dev.azure.com/<organization>/<project>/_git/<repository>",
                        "password": "personal access token with Code (Read & write)",
                    },
                },
            },
        ],
    }
