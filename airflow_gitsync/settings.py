"""Run settings: the DAG's params, validated into one typed object.

Bad input fails the run at its first task with a message naming the param, never half-way.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime

_REF_NAME = re.compile(r"^(?!/)(?!.*//)(?!.*\.\.)(?!.*@\{)(?!.*\.lock(/|$))[^\x00-\x20~^:?*\[\\]+(?<![/.])$")


class SettingsError(ValueError):
    """A param has a value the backup cannot run with."""


@dataclass(frozen=True)
class BackupSettings:
    """Everything one backup run needs to know, from the DAG's params."""

    workspace_root: str = "/Clients"
    branch: str = "main"
    working_branch: str = "backup/daily"
    tag_format: str = "backup/%Y-%m-%d"
    years: tuple[str, ...] = ()
    full_scan: bool = False
    commit_batch_size: int = 1000
    dry_run: bool = False
    databricks_conn_id: str = "databricks_default"
    git_conn_id: str = "azure_devops_git_default"

    @classmethod
    def from_params(cls, params: Mapping) -> BackupSettings:
        """Validate the params dict (unknown keys ignored) into settings."""
        values = {key: params[key] for key in cls.__dataclass_fields__ if params.get(key) is not None}
        if "years" in values:
            values["years"] = tuple(str(y).strip() for y in values["years"] if str(y).strip())
        settings = cls(**values)
        settings._validate()
        return settings

    def _validate(self) -> None:
        root = self.workspace_root
        if not root.startswith("/") or (root != "/" and root.endswith("/")) or "//" in root:
            raise SettingsError(f"workspace_root {root!r}: must be an absolute workspace path like /Clients")
        for name in ("branch", "working_branch"):
            value = getattr(self, name)
            if not _REF_NAME.match(value):
                raise SettingsError(f"{name} {value!r}: not a valid git branch name")
        if self.branch == self.working_branch:
            raise SettingsError(f"working_branch {self.working_branch!r}: must differ from branch")
        tag, other_day = self.tag_for(datetime(2000, 1, 2)), self.tag_for(datetime(2000, 1, 3))
        if not _REF_NAME.match(tag) or tag == other_day:
            raise SettingsError(
                f"tag_format {self.tag_format!r}: must be a strftime pattern giving a valid tag name "
                "per date, like backup/%Y-%m-%d"
            )
        if not 1 <= self.commit_batch_size <= 100_000:
            raise SettingsError(f"commit_batch_size {self.commit_batch_size}: must be between 1 and 100000")
        for year in self.years:
            if "/" in year or year in (".", ".."):
                raise SettingsError(f"years: {year!r} is not a folder name under {root}")
        for name in ("databricks_conn_id", "git_conn_id"):
            if not getattr(self, name):
                raise SettingsError(f"{name}: must not be empty")

    def tag_for(self, day: datetime) -> str:
        """The backup tag name for a logical date."""
        return day.strftime(self.tag_format)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["years"] = list(self.years)
        return data
