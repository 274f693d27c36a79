"""A small backup repository for the history browser's tests: real git, the backup's layout.

Each :meth:`BackupRepo.backup` is a commit on the working branch writing the given files (None:
deleted) and the manifest of what is left, tagged ``backup/<date>`` as the backup DAG tags it.
"""

from __future__ import annotations

import logging
import os
import subprocess
from pathlib import Path

from airflow_gitsync.blob import git_blob_id
from airflow_gitsync.git.auth import GitAuth
from airflow_gitsync.git.mirror import Mirror
from airflow_gitsync.layout import LANGUAGE_EXTENSIONS
from airflow_gitsync.manifest import MANIFEST_PATH, ManifestEntry, dump_manifest

BRANCH = "backup/daily"
ROOT = "/Clients"
_LANGUAGES = {ext: language for language, ext in LANGUAGE_EXTENSIONS.items()}


class BackupRepo:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.files: dict[str, bytes] = {}
        path.mkdir(parents=True)
        self.git("init", "-q", "-b", BRANCH)
        for key, value in (("uploadpack.allowFilter", "true"), ("uploadpack.allowAnySHA1InWant", "true")):
            self.git("config", key, value)

    def git(self, *args: str, day: str = "2026-01-01") -> str:
        when = f"{day}T02:00:00+00:00"
        env = dict(os.environ) | {
            "GIT_AUTHOR_NAME": "airflow-gitsync",
            "GIT_AUTHOR_EMAIL": "gitsync@example.com",
            "GIT_COMMITTER_NAME": "airflow-gitsync",
            "GIT_COMMITTER_EMAIL": "gitsync@example.com",
            "GIT_AUTHOR_DATE": when,
            "GIT_COMMITTER_DATE": when,
        }
        done = subprocess.run(["git", "-C", str(self.path), *args], env=env, check=True, capture_output=True)
        return done.stdout.decode().strip()

    def backup(self, day: str, files: dict[str, bytes | None], *, tag: bool = True) -> str:
        """Commit ``files`` (None: delete) with the manifest; tag it ``backup/<day>`` unless not ``tag``."""
        for path, content in files.items():
            target = self.path / path
            if content is None:
                self.files.pop(path)
                target.unlink()
            else:
                self.files[path] = content
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(content)
        manifest = self.path / MANIFEST_PATH
        manifest.parent.mkdir(exist_ok=True)
        manifest.write_bytes(dump_manifest(self.entry(p) for p in self.files))
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", f"Backup {day}\n\nRun id: scheduled__{day}", day=day)
        if tag:
            self.git("tag", "-a", f"backup/{day}", "-m", f"Backup {day}", day=day)
        return self.git("rev-parse", "HEAD")

    def entry(self, path: str) -> ManifestEntry:
        stem, dot, ext = path.rpartition(".")
        return ManifestEntry(
            repo_path=path,
            workspace_path=f"{ROOT}/{stem}",
            object_id=abs(hash(path)) % 10**9,
            object_type="NOTEBOOK",
            language=_LANGUAGES[f"{dot}{ext}"],
            modified_at=1,
            blob_id=git_blob_id(self.files[path]),
        )

    def mirror(self, where: Path) -> Mirror:
        return Mirror(where, f"file://{self.path}", GitAuth.none(), logging.getLogger("test"))
