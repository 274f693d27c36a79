"""``docker-compose.yaml`` without a Docker engine: the services of Airflow's official 3.x file, healthchecks,
an image built from ``Dockerfile``, and only settings that exist, the same ones the Celery test runs with."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from airflow_gitsync.options import OPTIONS
from gitsync_devkit.cluster import cluster_settings
from tests.fixtures.airflow_options import option_env_names

ROOT = Path(__file__).resolve().parents[1]
AIRFLOW_SERVICES = {
    "airflow-init",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yaml").read_text())


def _env(compose: dict, service: str) -> dict[str, str]:
    return compose["services"][service]["environment"]


def test_services_healthchecks_and_restarts(compose: dict):
    services = compose["services"]
    assert set(services) == AIRFLOW_SERVICES | {"postgres", "redis", "azurite"}
    for name, service in services.items():
        if name == "airflow-init":  # runs once, then the others start
            assert "restart" not in service
            continue
        assert service["healthcheck"]["test"][0] in ("CMD", "CMD-SHELL"), name
        assert service["restart"] == "always", name
        for dependency in service.get("depends_on", {}):
            assert dependency in services, f"{name} depends on unknown {dependency}"
    assert services["airflow-worker"]["deploy"]["replicas"] >= 2
    assert "postgres-db-volume:/var/lib/postgresql/data" in services["postgres"]["volumes"]
    assert "postgres-db-volume" in compose["volumes"]


def test_task_logs_and_cache_dir_are_named_volumes_the_airflow_user_owns(compose: dict):
    """A restart keeps the task logs and the workers' warm mirror (cache_dir)."""
    cache_dir = _env(compose, "airflow-worker")["AIRFLOW__GITSYNC__CACHE_DIR"]
    for name in AIRFLOW_SERVICES:
        volumes = compose["services"][name]["volumes"]
        assert {"airflow-logs:/opt/airflow/logs", f"gitsync-cache:{cache_dir}"} <= set(volumes), name
    assert {"airflow-logs", "gitsync-cache"} <= set(compose["volumes"])
    init = compose["services"]["airflow-init"]["command"][-1]
    assert f'chown -R "${{AIRFLOW_UID:-50000}}:0" /opt/airflow/logs {cache_dir}' in init


def test_airflow_runs_an_image_built_from_the_dockerfile(compose: dict):
    for name in AIRFLOW_SERVICES:
        service = compose["services"][name]
        assert service["build"] == ".", name
        assert service["user"] == ("0:0" if name == "airflow-init" else "${AIRFLOW_UID:-50000}:0"), name
        assert not any(key.startswith("_PIP_ADDITIONAL") for key in _env(compose, name)), name
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert (
        'pip install --no-cache-dir "/opt/gitsync[celery]" -c /opt/gitsync/constraints-3.11.txt' in dockerfile
    )


def test_every_setting_is_a_real_option_and_the_celery_test_uses_the_same(compose: dict):
    known = option_env_names()
    gitsync = {f"AIRFLOW__GITSYNC__{option.name.upper()}" for option in OPTIONS}
    for name in AIRFLOW_SERVICES:
        settings = {key for key in _env(compose, name) if key.startswith("AIRFLOW__")}
        assert settings - known == set(), f"{name}: not Airflow options"
        assert {k for k in settings if k.startswith("AIRFLOW__GITSYNC__")} <= gitsync
        native = set(cluster_settings("db", "broker", "storage")) | {"AIRFLOW__GITSYNC__CACHE_DIR"}
        assert native - set(_env(compose, name)) == set(), f"{name} lacks settings the Celery test uses"
    common = _env(compose, "airflow-scheduler")
    native = cluster_settings(common["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"], "broker", "storage")
    same_values = [
        k for k in native if k.startswith(("AIRFLOW__GITSYNC", "AIRFLOW__CORE", "AIRFLOW__COMMON_IO"))
    ]
    same_values.append("AIRFLOW__CELERY__RESULT_BACKEND")
    assert {k: common[k] for k in same_values} == {k: native[k] for k in same_values}
