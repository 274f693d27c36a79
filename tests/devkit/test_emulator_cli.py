"""`python -m gitsync_devkit.emulator` as a subprocess: it serves, and bad input gives one
``error:`` line and exit code 2, never a traceback."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

MODULE = [sys.executable, "-m", "gitsync_devkit.emulator"]


def wait_for(ready: Path, process: subprocess.Popen[str]) -> str:
    deadline = time.monotonic() + 30
    while not (ready.exists() and ready.read_text().strip()):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "emulator did not become ready"
        time.sleep(0.05)
    return ready.read_text().strip()


@pytest.fixture
def run_cli(tmp_path: Path) -> Iterator:
    processes: list[subprocess.Popen[str]] = []

    def start(*args: str) -> tuple[subprocess.Popen[str], str]:
        ready = tmp_path / f"ready-{len(processes)}"
        command = [*MODULE, "--port", "0", "--token", "cli-token", "--ready-file", str(ready), *args]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        processes.append(process)
        return process, wait_for(ready, process)

    yield start
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.communicate()


def test_generate_serves_with_the_given_knobs_and_stops_on_sigterm(run_cli):
    process, url = run_cli("--generate", "30", "--seed", "2", "--list-rps", "1", "--root", "/Clients")
    s = requests.Session()
    s.headers["Authorization"] = "Bearer cli-token"
    years = s.get(f"{url}/api/2.0/workspace/list", params={"path": "/Clients"}, timeout=10)
    assert [o["path"] for o in years.json()["objects"]] == ["/Clients/2023", "/Clients/2024", "/Clients/2025"]
    throttled = s.get(f"{url}/api/2.0/workspace/list", params={"path": "/Clients"}, timeout=10)
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "1"
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=10)
    assert process.returncode == 0 and err == ""
    assert f"listening on {url}" in out


def test_workspace_directory_is_loaded_as_notebooks_and_files(run_cli, tmp_path: Path):
    tree = tmp_path / "tree" / "2024" / "ENG-1" / "NOTEBOOKS"
    tree.mkdir(parents=True)
    (tree / "ingest.py").write_text("# Databricks notebook source\nprint(1)\n")
    (tree / "query.sql").write_text("-- Databricks notebook source\nSELECT 1\n")
    (tree / "plain.py").write_text("print('not a notebook')\n")
    (tree / "data.csv").write_text("a,b\n")
    _, url = run_cli("--workspace", str(tmp_path / "tree"))
    s = requests.Session()
    s.headers["Authorization"] = "Bearer cli-token"
    listed = s.get(
        f"{url}/api/2.0/workspace/list", params={"path": "/Clients/2024/ENG-1/NOTEBOOKS"}, timeout=10
    )
    kinds = {
        o["path"].rsplit("/", 1)[1]: (o["object_type"], o.get("language")) for o in listed.json()["objects"]
    }
    assert kinds == {
        "ingest": ("NOTEBOOK", "PYTHON"),
        "query": ("NOTEBOOK", "SQL"),
        "plain.py": ("FILE", None),
        "data.csv": ("FILE", None),
    }
    source = s.get(
        f"{url}/api/2.0/workspace/export",
        params={"path": "/Clients/2024/ENG-1/NOTEBOOKS/query", "direct_download": "true"},
        timeout=10,
    )
    assert source.content == b"-- Databricks notebook source\nSELECT 1\n"


def bad(*args: str) -> str:
    result = subprocess.run([*MODULE, *args], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_bad_input_gives_one_error_line_and_exit_2(tmp_path: Path):
    base = ["--token", "t"]
    assert "workspace directory not found" in bad("--port", "0", "--workspace", str(tmp_path / "nope"), *base)
    assert "not a TCP port" in bad("--port", "abc", "--generate", "5", *base)
    assert "not a TCP port" in bad("--port", "70000", "--generate", "5", *base)
    assert ">= 0" in bad("--port", "0", "--generate", "5", "--export-rps", "-3", *base)
    assert "not a number" in bad("--port", "0", "--generate", "5", "--list-rps", "fast", *base)
    assert "between 0 and 1" in bad("--port", "0", "--generate", "5", "--fault-rate", "1.5", *base)
    assert "not allowed with" in bad("--port", "0", "--generate", "5", "--workspace", str(tmp_path), *base)
    assert "one of the arguments" in bad("--port", "0", *base)
    assert "--token" in bad("--port", "0", "--generate", "5")


def test_occupied_port_is_a_one_line_error():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert f"cannot listen on 127.0.0.1:{port}" in bad(
            "--port", str(port), "--generate", "1", "--token", "t"
        )
