"""Test session setup: an isolated AIRFLOW_HOME, and the service fixtures every suite shares."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from hypothesis import settings

# Airflow reads its configuration at import time: point it at a throw-away home first.
_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="gitsync-airflow-home-"))
os.environ["AIRFLOW_HOME"] = str(_AIRFLOW_HOME)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "True"
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(Path(__file__).resolve().parents[1] / "dags"))

# The suite runs on shared, loaded machines: a slow example is no failure.
settings.register_profile("gitsync", deadline=None)
settings.load_profile("gitsync")

pytest_plugins = ["tests.fixtures.emulator", "tests.fixtures.git_server", "tests.fixtures.airflow_process"]
