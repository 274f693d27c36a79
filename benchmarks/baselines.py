"""What a user would otherwise script: export everything, then ``git add -A && git commit && git push``.

Two exports, each against its own emulator (same seed, same data, same rate limits):

- ``cli``: the legacy ``databricks-cli`` (PyPI 0.18), ``databricks workspace export_dir /Clients DIR -o``.
  It drops any port from its host setting, so its emulator listens on port 80 of 127.0.0.2.
- ``sdk``: a straightforward ``databricks-sdk`` loop: ``workspace.list(recursive=True)``, then
  ``workspace.download`` and write each notebook, one at a time.

Run as ``python benchmarks/baselines.py {cli,sdk} HOST DIR REMOTE``; prints one JSON line of timings.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from stack import TOKEN, git_auth_env

EXTENSIONS = {"PYTHON": ".py", "SQL": ".sql", "SCALA": ".scala", "R": ".r"}


def export_cli(host: str, target: Path) -> None:
    env = os.environ | {"DATABRICKS_HOST": host, "DATABRICKS_TOKEN": TOKEN}
    cli = Path(sys.executable).with_name("databricks")
    subprocess.run(
        [str(cli), "workspace", "export_dir", "/Clients", str(target), "-o"],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def export_sdk(host: str, target: Path) -> None:
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.errors import DatabricksError
    from databricks.sdk.service.workspace import ExportFormat, ObjectType

    client = WorkspaceClient(host=host, token=TOKEN)
    for obj in client.workspace.list("/Clients", recursive=True):
        if obj.object_type not in (ObjectType.NOTEBOOK, ObjectType.FILE):
            continue
        suffix = EXTENSIONS.get(obj.language.value, "") if obj.object_type == ObjectType.NOTEBOOK else ""
        path = target / (obj.path.removeprefix("/Clients/") + suffix)
        try:
            with client.workspace.download(obj.path, format=ExportFormat.SOURCE) as stream:
                content = stream.read()
        except DatabricksError as exc:  # e.g. over the 10 MB export limit: skip it, as export_dir does
            print(f"skipped {obj.path}: {exc}", file=sys.stderr)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)


def commit_and_push(target: Path, remote: str) -> None:
    def git(*args: str) -> None:
        subprocess.run(
            ["git", "-C", str(target), *args], check=True, env=git_auth_env(remote), stdout=subprocess.DEVNULL
        )

    git("init", "-q", "-b", "main")
    git("add", "-A")
    git("-c", "user.name=bench", "-c", "user.email=bench@localhost", "commit", "-q", "-m", "backup")
    git("push", "-q", remote, "main")


def main() -> None:
    kind, host, target, remote = sys.argv[1], sys.argv[2], Path(sys.argv[3]), sys.argv[4]
    target.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    (export_cli if kind == "cli" else export_sdk)(host, target)
    exported = time.monotonic()
    commit_and_push(target, remote)
    done = time.monotonic()
    files = sum(1 for p in target.rglob("*") if p.is_file() and ".git" not in p.parts)
    print(json.dumps({"export_seconds": exported - started, "git_seconds": done - exported, "files": files}))


if __name__ == "__main__":
    main()
