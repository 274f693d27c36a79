"""Start the stand-in servers (workspace emulator, git server, databases) as child processes, as users do."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def spawn(
    stack: ExitStack | None,
    name: str,
    argv: list[str],
    workdir: Path,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.Popen:
    """Run ``argv`` (in ``cwd``, default this process's) with its output in ``<workdir>/<name>.log``;
    with ``stack``, stopped when it closes."""
    with (workdir / f"{name}.log").open("w") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=cwd)
    if stack is not None:
        stack.callback(stop, proc)
    return proc


def stop(proc: subprocess.Popen, timeout: float = 30) -> None:
    """Terminate ``proc``, killing it if it is still there after ``timeout`` seconds."""
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def wait_ready(
    name: str, proc: subprocess.Popen, log: Path, ready: Callable[[], object], timeout: float
) -> None:
    """Poll ``ready()`` until true; ``proc`` exiting or the time running out is an error naming ``log``."""
    deadline = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"error: {name} did not start: see {log}")
        time.sleep(0.2)


def start_server(stack: ExitStack, name: str, module: str, args: list[str], workdir: Path) -> str:
    """Run ``python -m gitsync_devkit.<module> ARGS`` until ``stack`` closes; return its URL.

    The server writes its URL to a ready file once it listens; its output goes to
    ``<workdir>/<name>.log``. A server that exits or is not ready within 10 minutes (generating a
    70,000-notebook workspace takes a while) is an error naming that log.
    """
    ready = workdir / f"{name}.url"
    ready.unlink(missing_ok=True)
    argv = [sys.executable, "-m", f"gitsync_devkit.{module}", *args, "--ready-file", str(ready)]
    proc = spawn(stack, name, argv, workdir)
    wait_ready(name, proc, workdir / f"{name}.log", lambda: ready.exists() and ready.read_text().strip(), 600)
    return ready.read_text().strip().rstrip("/")
