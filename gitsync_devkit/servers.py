"""Start the stand-in servers (workspace emulator, git server) as child processes, as users would."""

from __future__ import annotations

import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path


def start_server(stack: ExitStack, name: str, module: str, args: list[str], workdir: Path) -> str:
    """Run ``python -m gitsync_devkit.<module> ARGS`` until ``stack`` closes; return its URL.

    The server writes its URL to a ready file once it listens; its output goes to
    ``<workdir>/<name>.log``. A server that exits or is not ready within 10 minutes (generating a
    70,000-notebook workspace takes a while) is an error naming that log.
    """
    ready = workdir / f"{name}.url"
    ready.unlink(missing_ok=True)
    with (workdir / f"{name}.log").open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", f"gitsync_devkit.{module}", *args, "--ready-file", str(ready)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    stack.callback(proc.wait, 30)
    stack.callback(proc.terminate)
    deadline = time.monotonic() + 600
    while not (ready.exists() and ready.read_text().strip()):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"error: {name} did not start: see {workdir / (name + '.log')}")
        time.sleep(0.2)
    return ready.read_text().strip().rstrip("/")
