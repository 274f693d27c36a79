"""The stand-in servers a benchmark runs against, as child processes, and small helpers around them."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from airflow_gitsync.blob import git_blob_id
from airflow_gitsync.layout import OWNED_ROOT_FILES, to_repo_path
from airflow_gitsync.results import peak_rss_bytes

TOKEN = "dapi-bench"
USER, PAT = "backup", "bench-pat-secret"
SEED = 7
ROOT = "/Clients"
EXPORT_LIMIT = 10 * 1024 * 1024  # Databricks' export limit: what is over it cannot be backed up


@dataclass
class Emulator:
    """A running Workspace API emulator and its control API."""

    url: str

    def __post_init__(self) -> None:
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {TOKEN}"

    def control(self, action: str, payload: dict | None = None) -> dict:
        if payload is None:
            response = self.session.get(f"{self.url}/_emulator/{action}", timeout=300)
        else:
            response = self.session.post(f"{self.url}/_emulator/{action}", json=payload, timeout=300)
        response.raise_for_status()
        return response.json() if response.content else {}

    def counters(self) -> dict[str, dict[str, int]]:
        return self.control("counters")

    def reset_counters(self) -> None:
        self.control("reset-counters", {})

    def snapshot(self, root: str) -> dict[str, bytes]:
        """The content of every notebook and file under ``root``, by workspace path."""
        objects = self.control(f"snapshot?root={root}")["objects"]
        return {path: base64.b64decode(content) for path, content in objects.items()}

    def delete_too_large(self) -> int:
        """Delete the notebooks over 10 MB: the legacy CLI's export_dir aborts at the first one."""
        too_large = [
            o["path"]
            for o in self.control("objects")["objects"]
            if o["object_type"] == "NOTEBOOK" and o.get("size", 0) > 10 * 1024 * 1024
        ]
        for path in too_large:
            self.control("delete", {"path": path, "recursive": False})
        return len(too_large)

    def mutate(
        self,
        modified: int,
        added: int,
        deleted: int,
        prefixes: tuple[str, ...] | None = None,
        label: str = "bench_new",
    ) -> None:
        """A day of change: modify, add and delete notebooks spread evenly over the workspace (with
        ``prefixes``, over the notebooks whose path starts with one of them, e.g. ``/Clients/2025/``). The
        added notebooks are named ``<label>_<i>``: give each day its own ``label`` to add new ones again."""
        notebooks = sorted(
            o["path"]
            for o in self.control("objects")["objects"]
            if o["object_type"] == "NOTEBOOK"
            and o.get("size", 0) < 1_000_000
            and (prefixes is None or o["path"].startswith(prefixes))
        )
        step = max(1, len(notebooks) // (modified + deleted))
        picked = notebooks[::step][: modified + deleted]
        for path in picked[:modified]:
            self.control("modify", {"path": path})
        for path in picked[modified:]:
            self.control("delete", {"path": path, "recursive": False})
        folders = sorted({p.rsplit("/", 1)[0] for p in notebooks})
        for i in range(added):
            name = "" if label == "bench_new" else f" ({label})"
            source = f"# Databricks notebook source\nprint('added by the benchmark, {i}{name}')\n".encode()
            folder = folders[i * len(folders) // added]
            self.control(
                "notebooks",
                {
                    "path": f"{folder}/{label}_{i}",
                    "content": base64.b64encode(source).decode(),
                    "language": "PYTHON",
                },
            )


def emulator_args(
    scale: int,
    rates: dict[str, float],
    latency_ms: float,
    host: str,
    port: int,
    years: tuple[int, ...] | None = None,
) -> list[str]:
    """The emulator's arguments: ``scale`` generated notebooks (with ``years``, over those year folders
    instead of the generator's default three), the rate limits and the latency."""
    return [
        *(["--years", ",".join(map(str, years))] if years else []),
        "--host",
        host,
        "--port",
        str(port),
        "--generate",
        str(scale),
        "--token",
        TOKEN,
        "--seed",
        str(SEED),
        "--export-rps",
        str(rates["export"]),
        "--list-rps",
        str(rates["list"]),
        "--latency-ms",
        str(latency_ms),
    ]


def git_auth_env(remote: str) -> dict[str, str]:
    """The environment that lets one git command push to ``remote`` with the PAT (never on a command line)."""
    basic = base64.b64encode(f"{USER}:{PAT}".encode()).decode()
    return os.environ | {
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": f"http.{remote}.extraHeader",
        "GIT_CONFIG_VALUE_0": f"Authorization: Basic {basic}",
        "GIT_TERMINAL_PROMPT": "0",
    }


def expected_files(emulator: Emulator) -> dict[str, str]:
    """What a complete backup of the workspace under :data:`ROOT` holds: every notebook and file within
    the export limit, by repository path, with its git blob id."""
    content = emulator.snapshot(ROOT)
    return {
        to_repo_path(ROOT, o["path"], o["object_type"], o.get("language")): git_blob_id(content[o["path"]])
        for o in emulator.control("objects")["objects"]
        if o["path"] in content and len(content[o["path"]]) <= EXPORT_LIMIT
    }


def check_backup(
    emulator: Emulator,
    remote: str,
    ref: str,
    mirror: Path,
    expected: dict[str, str] | None = None,
    shard: str | None = None,
) -> dict:
    """Compare ``ref`` on ``remote`` with the workspace under :data:`ROOT` byte for byte (by git blob id):
    every notebook and file within the export limit must be there with its content, and nothing else
    but the backup's own files (a missing ``ref`` is an ``error``). ``mirror``: a bare repository to fetch
    into (made when missing). ``expected``: :func:`expected_files`, read once for several checks of the
    same workspace (default: read now). ``shard``: ``remote`` is that repository of a repository per year
    (``2024``, ``other``), which must hold the workspace's part that goes to it."""
    if not mirror.exists():
        subprocess.run(["git", "init", "-q", "--bare", str(mirror)], check=True)
    git = ["git", "-C", str(mirror)]
    subprocess.run(
        [*git, "fetch", "-q", "--force", remote, "+refs/tags/*:refs/tags/*"],
        env=git_auth_env(remote),
        check=True,
    )
    listing = subprocess.run([*git, "ls-tree", "-r", "-z", ref], capture_output=True)
    if listing.returncode:
        return {"byte_for_byte": False, "error": listing.stderr.decode().strip()}
    backed_up = {}
    for line in filter(None, listing.stdout.decode().split("\0")):
        meta, path = line.split("\t", 1)
        if not path.startswith(".gitsync/") and path not in OWNED_ROOT_FILES:
            backed_up[path] = meta.split()[2]
    if expected is None:
        expected = expected_files(emulator)
    if shard is not None:
        from airflow_gitsync.shards import shard_of_path  # not at the top: only sharded runs need it

        expected = {p: blob for p, blob in expected.items() if shard_of_path(p) == shard}
    differ = sorted(p for p in expected.keys() & backed_up.keys() if expected[p] != backed_up[p])
    return {
        "files": len(backed_up),
        "missing": sorted(expected.keys() - backed_up.keys()),
        "unexpected": sorted(backed_up.keys() - expected.keys()),
        "differ": differ,
        "byte_for_byte": backed_up == expected,
    }


def run_measured(command: list[str], **kwargs) -> tuple[float, int, int]:
    """Run ``command`` to completion: (wall seconds, its peak RSS in bytes, exit code).

    The peak is the process's ``VmHWM``, read every 0.1 s while it runs (it only grows), not the
    ``ru_maxrss`` of ``wait4``: Linux keeps the benchmark's own peak in a child's ``ru_maxrss`` across
    exec, which made every ``dags test`` after the first full sync report 731 MiB (the benchmark's size
    after checking that sync). The git processes it starts are not in it; the wall time ends when a
    sample sees the exit, up to 0.1 s late."""
    started = time.monotonic()
    proc = subprocess.Popen(command, **kwargs)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, peak_rss_bytes(proc.pid))
        time.sleep(0.1)
    return time.monotonic() - started, peak, proc.returncode


def start_emulator(args: list[str], workdir: Path) -> tuple[subprocess.Popen, str]:
    """``python -m gitsync_devkit.emulator ARGS`` in its own process, once it listens (at most 5 min):
    the process and its URL."""
    ready = workdir / "emulator.url"
    command = [sys.executable, "-m", "gitsync_devkit.emulator", *args, "--ready-file", str(ready)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not ready.exists() or not ready.read_text().strip():
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"emulator did not start (exit code {process.poll()})")
        time.sleep(0.2)
    return process, ready.read_text().strip()
