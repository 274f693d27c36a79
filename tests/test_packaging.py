"""The wheel ships every provider module and its Airflow entry points, and nothing of the dev kit."""

from __future__ import annotations

import configparser
import email.parser
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

# One wheel build for the module: its tests stay on one pytest-xdist worker (`make test` runs two).
pytestmark = pytest.mark.xdist_group("wheel")

ROOT = Path(__file__).resolve().parents[1]
# Local state that is not source: copying it would be slow, and stale build/ output could leak in.
NOT_SOURCE = (
    ".git",
    ".venv",
    ".matrix",
    ".demo",
    ".bench",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    ".*_cache",
    "node_modules",
)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[zipfile.ZipFile]:
    """A wheel built with uv, as a release would be, from a copy of the checkout (the build writes into
    its source tree)."""
    uv = shutil.which("uv", path=Path(sys.executable).parent) or shutil.which("uv")
    if uv is None:
        pytest.fail(
            "uv is needed to build the wheel: `make install` puts it in .venv/bin (or `pip install uv`)"
        )
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*NOT_SOURCE))
    build = subprocess.run(
        [uv, "build", "--wheel", "--out-dir", str(tmp / "dist"), str(source)], capture_output=True, text=True
    )
    assert build.returncode == 0, f"uv build --wheel failed:\n{build.stdout}\n{build.stderr}"
    (path,) = (tmp / "dist").glob("*.whl")
    with zipfile.ZipFile(path) as archive:
        yield archive


def test_wheel_holds_every_provider_module(wheel: zipfile.ZipFile) -> None:
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "airflow_gitsync").rglob("*.py")}
    shipped = {name for name in wheel.namelist() if name.endswith(".py")}
    assert modules - shipped == set()
    assert "airflow_gitsync/get_provider_info.py" in shipped


def test_wheel_holds_nothing_of_the_dev_kit(wheel: zipfile.ZipFile) -> None:
    names = wheel.namelist()
    assert [n for n in names if not n.startswith(("airflow_gitsync/", "airflow_gitsync-"))] == []
    assert [n for n in names if "gitsync_devkit" in n or "emulator" in n or "git_server" in n] == []
    assert [n for n in names if "/testing/" in n or n.startswith(("tests/", "benchmarks/"))] == []


def test_wheel_declares_the_airflow_entry_points(wheel: zipfile.ZipFile) -> None:
    (name,) = (n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt"))
    entry_points = configparser.ConfigParser()
    entry_points.read_string(wheel.read(name).decode())
    assert dict(entry_points["apache_airflow_provider"]) == {
        "provider_info": "airflow_gitsync.get_provider_info:get_provider_info"
    }
    assert dict(entry_points["airflow.plugins"]) == {
        "airflow_gitsync": "airflow_gitsync.plugins:GitsyncPlugin"
    }


def _metadata(wheel: zipfile.ZipFile):
    (name,) = (n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
    return email.parser.Parser().parsestr(wheel.read(name).decode())


def test_wheel_holds_the_apache_license(wheel: zipfile.ZipFile) -> None:
    (name,) = (n for n in wheel.namelist() if n.endswith(("/LICENSE", "/licenses/LICENSE")))
    assert wheel.read(name) == (ROOT / "LICENSE").read_bytes()
    assert b"Apache License\n                           Version 2.0" in wheel.read(name)
    metadata = _metadata(wheel)
    assert metadata["License"] == "Apache-2.0" and metadata["License-File"] == "LICENSE"


def test_metadata_declares_the_tested_python_and_airflow_ranges(wheel: zipfile.ZipFile) -> None:
    """Python 3.10-3.13 and Airflow 3.1 on, with no cap on Airflow's minor (`make test-matrix` tests them)."""
    metadata = _metadata(wheel)
    assert metadata["Requires-Python"] == ">=3.10"
    classifiers = metadata.get_all("Classifier")
    assert {c for c in classifiers if c.startswith("Programming Language :: Python :: 3.")} == {
        f"Programming Language :: Python :: 3.{minor}" for minor in range(10, 14)
    }
    assert "apache-airflow>=3.1.0" in metadata.get_all("Requires-Dist")
    urls = dict(url.split(", ", 1) for url in metadata.get_all("Project-URL"))
    assert {"Source Code", "Changelog", "Bug Tracker"} <= set(urls)


def test_users_install_neither_test_nor_bench_dependencies(wheel: zipfile.ZipFile) -> None:
    """They are dependency groups of pyproject.toml, which never reach the wheel's metadata."""
    metadata = _metadata(wheel)
    assert metadata.get_all("Provides-Extra") == ["celery"]
    requirements = " ".join(metadata.get_all("Requires-Dist"))
    for dev_only in (
        "pytest",
        "hypothesis",
        "ruff",
        "matplotlib",
        "databricks-cli",
        "databricks-sdk",
        "psycopg[",
    ):
        assert dev_only not in requirements
