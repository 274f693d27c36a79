"""Throughput of the Workspace API emulator: list and export requests/s with concurrent keep-alive clients.

The emulator runs as a separate process (its CLI, no rate limits, no faults), so the clients' own CPU use
does not share its GIL. Each client is a thread with its own ``requests.Session``. Every scenario runs
``--runs`` times for ``--seconds`` seconds; the table shows the median and the spread.

    .venv/bin/python benchmarks/emulator_throughput.py [--clients 16] [--seconds 3] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import requests

TOKEN = "dapi-bench"


def start_emulator(notebooks: int) -> tuple[subprocess.Popen[bytes], str]:
    """Start the emulator CLI on a free port and wait for its ready file."""
    ready = Path(tempfile.mkdtemp(prefix="emu-bench-")) / "ready"
    command = [sys.executable, "-m", "gitsync_devkit.emulator", "--port", "0"]
    command += ["--generate", str(notebooks), "--token", TOKEN, "--seed", "1", "--ready-file", str(ready)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not ready.exists() or not ready.read_text().strip():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError("emulator did not start")
        time.sleep(0.05)
    return process, ready.read_text().strip()


def notebook_paths(url: str, limit: int) -> tuple[list[str], list[str]]:
    """(directories, exportable notebooks) found by walking the workspace breadth-first."""
    session = _session()
    directories, notebooks, queue = [], [], ["/Clients"]
    while queue and len(notebooks) < limit:
        path = queue.pop(0)
        directories.append(path)
        answer = session.get(f"{url}/api/2.0/workspace/list", params={"path": path}, timeout=30)
        for obj in answer.json().get("objects", []):
            if obj["object_type"] == "DIRECTORY":
                queue.append(obj["path"])
            elif obj["object_type"] == "NOTEBOOK" and obj.get("size", 0) <= 1_000_000:
                notebooks.append(obj["path"])
    return directories, notebooks[:limit]


def _session() -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {TOKEN}"
    return session


def measure(
    clients: int, seconds: float, request: Callable[[requests.Session, int], requests.Response]
) -> float:
    """Requests/s over ``seconds`` with ``clients`` threads; every answer must be 200."""
    stop = threading.Event()
    counts = [0] * clients
    errors: list[str] = []

    def client(index: int) -> None:
        session = _session()
        i = index
        while not stop.is_set():
            response = request(session, i)
            if response.status_code != 200:
                errors.append(f"{response.status_code} {response.text[:100]}")
                return
            counts[index] += 1
            i += clients

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise RuntimeError(f"{len(errors)} failed requests, first: {errors[0]}")
    return sum(counts) / elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--notebooks", type=int, default=2000, help="size of the generated workspace")
    args = parser.parse_args()
    process, url = start_emulator(args.notebooks)
    try:
        directories, notebooks = notebook_paths(url, 500)
        scenarios: dict[str, Callable[[requests.Session, int], requests.Response]] = {
            "list": lambda s, i: s.get(
                f"{url}/api/2.0/workspace/list",
                params={"path": directories[i % len(directories)]},
                timeout=30,
            ),
            "export (SOURCE, direct_download)": lambda s, i: s.get(
                f"{url}/api/2.0/workspace/export",
                params={"path": notebooks[i % len(notebooks)], "format": "SOURCE", "direct_download": "true"},
                timeout=30,
            ),
            "export (SOURCE, base64 JSON)": lambda s, i: s.get(
                f"{url}/api/2.0/workspace/export",
                params={"path": notebooks[i % len(notebooks)], "format": "SOURCE"},
                timeout=30,
            ),
        }
        print(f"emulator {url}, {args.notebooks} generated notebooks, {args.clients} keep-alive clients,")
        print(f"{args.runs} runs x {args.seconds:g} s; Python {platform.python_version()}")
        print(f"{os.cpu_count()} CPUs, {platform.platform()}")
        print()
        print(f"| {'endpoint':<34} | median req/s | min req/s | max req/s |")
        print(f"|{'-' * 36}|-------------:|----------:|----------:|")
        for name, request in scenarios.items():
            rates = [measure(args.clients, args.seconds, request) for _ in range(args.runs)]
            print(
                f"| {name:<34} | {statistics.median(rates):12.0f} | {min(rates):9.0f} | {max(rates):9.0f} |"
            )
    finally:
        process.terminate()
        process.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
