"""Databricks Workspace API emulator (see ``workspace_emulator``)."""

from gitsync_devkit.emulator.workspace_emulator import EmulatorConfig, WorkspaceEmulator

__all__ = ["EmulatorConfig", "WorkspaceEmulator"]
