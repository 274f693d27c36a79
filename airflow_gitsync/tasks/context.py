"""What every task function starts from: its params checked, the ``[gitsync]`` section, the staging
store, the time it started, and its hooks' clients.

The hooks are imported where they are used: with the Databricks and Azure providers they take a
third of a DAG file's import time, which every task process and every DAG parse would pay.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

from airflow_gitsync.config import GitsyncConfig
from airflow_gitsync.git.mirror import Mirror
from airflow_gitsync.git.snapshot import SnapshotEngine
from airflow_gitsync.results import TaskMetrics
from airflow_gitsync.staging import StagingStore
from airflow_gitsync.workspace.client import WorkspaceClient

if TYPE_CHECKING:
    from airflow_gitsync.hooks.azure_devops_git import AzureDevOpsGitHook


class Connections(Protocol):
    """What a DAG's params name: the two connections."""

    databricks_conn_id: str
    git_conn_id: str


S = TypeVar("S", bound=Connections)


@dataclass
class RunContext(Generic[S]):
    """One task's run: ``settings`` (its DAG's params, checked), ``config`` (``[gitsync]``)."""

    settings: S
    config: GitsyncConfig = field(default_factory=GitsyncConfig.load)
    started: float = field(default_factory=time.monotonic)

    @classmethod
    def of(cls, settings_type: type[S], params: Mapping | None) -> RunContext[S]:
        """The context of a task given ``params``; a bad param raises ``SettingsError``."""
        return cls(settings_type.from_params(params))  # type: ignore[attr-defined]

    @cached_property
    def staging(self) -> StagingStore:
        return self.config.staging()

    def metrics(self) -> TaskMetrics:
        """The task's seconds so far and its peak RSS."""
        return TaskMetrics.since(self.started)

    def workspace_client(self) -> WorkspaceClient:
        """A client of the params' Databricks connection under the shared rate limits; close it."""
        from airflow_gitsync.hooks.databricks_workspace import DatabricksWorkspaceHook

        hook = DatabricksWorkspaceHook(databricks_conn_id=self.settings.databricks_conn_id)
        return hook.get_client(**self.config.client_options())

    def git_hook(self) -> AzureDevOpsGitHook:
        """The hook of the params' git connection."""
        from airflow_gitsync.hooks.azure_devops_git import AzureDevOpsGitHook

        return AzureDevOpsGitHook(azure_devops_git_conn_id=self.settings.git_conn_id)

    def mirror(self) -> Mirror:
        """The worker's mirror of the params' git connection (call ``sync()`` first)."""
        from airflow_gitsync.hooks.azure_devops_git import AzureDevOpsGitHook

        return AzureDevOpsGitHook(azure_devops_git_conn_id=self.settings.git_conn_id).get_mirror(
            self.config.cache_dir
        )

    def engine(self, branch: str, working_branch: str) -> SnapshotEngine:
        """A snapshot engine on the worker's mirror of the params' git connection."""
        from airflow_gitsync.hooks.azure_devops_git import AzureDevOpsGitHook

        hook = AzureDevOpsGitHook(azure_devops_git_conn_id=self.settings.git_conn_id)
        return hook.get_engine(cache_dir=self.config.cache_dir, branch=branch, working_branch=working_branch)
