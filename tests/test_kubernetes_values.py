"""``deploy/kubernetes/values.yaml`` without a cluster: every key one the official Airflow Helm chart declares
(``tests/fixtures/helm_chart_values_schema.json``, the part of its schema the file uses), every setting a real
option, and the shape the provider needs on the KubernetesExecutor."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from airflow_gitsync.options import OPTIONS
from gitsync_devkit.cluster import STAGING_CONN_ID, cluster_settings
from tests.fixtures.airflow_options import option_env_names

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = json.loads((ROOT / "tests" / "fixtures" / "helm_chart_values_schema.json").read_text())


@pytest.fixture(scope="module")
def values() -> dict:
    return yaml.safe_load((ROOT / "deploy" / "kubernetes" / "values.yaml").read_text())


def _undeclared(value: object, schema: dict, path: str = "") -> list[str]:
    """The key paths of ``value`` that ``schema`` declares neither as a property nor through a schema for
    any other key (``additionalProperties``)."""
    if "$ref" in schema:
        schema = SCHEMA["definitions"][schema["$ref"].rsplit("/", 1)[1]]
    if isinstance(value, list):
        items = schema.get("items", {})
        return [p for i, item in enumerate(value) for p in _undeclared(item, items, f"{path}[{i}]")]
    if not isinstance(value, dict):
        return []
    found = []
    for key, item in value.items():
        declared = schema.get("properties", {}).get(key, schema.get("additionalProperties"))
        if isinstance(declared, dict):
            found += _undeclared(item, declared, f"{path}.{key}")
        else:
            found.append(f"{path}.{key}")
    return found


def _env(values: dict) -> dict[str, str]:
    """Every environment variable the values set, by name: plain values, and secrets as ``secret:<name>``."""
    plain = {item["name"]: item["value"] for item in values["env"]}
    secret = {item["envName"]: f"secret:{item['secretName']}" for item in values["secret"]}
    assert not plain.keys() & secret.keys(), "a variable set twice"
    return plain | secret


def test_every_key_is_one_the_chart_declares_with_its_type(values: dict):
    jsonschema.Draft7Validator(SCHEMA).validate(values)
    assert _undeclared(values, SCHEMA) == []


def test_every_setting_is_a_real_option(values: dict):
    known = option_env_names()
    gitsync = {f"AIRFLOW__GITSYNC__{option.name.upper()}" for option in OPTIONS}
    settings = {name for name in _env(values) if name.startswith("AIRFLOW__")}
    assert settings - known == set(), "not Airflow options"
    assert {name for name in settings if name.startswith("AIRFLOW__GITSYNC__")} - gitsync == set()


def test_tasks_in_pods_with_the_staging_store_xcoms_and_connections_every_pod_reaches(values: dict):
    env = _env(values)
    assert values["executor"] == "KubernetesExecutor"
    # Staging and XComs exactly as on the Celery test's cluster (and docker-compose.yaml).
    shared = {
        key: value
        for key, value in cluster_settings("db", "broker", "storage").items()
        if key.startswith(("AIRFLOW__GITSYNC__", "AIRFLOW__CORE__XCOM", "AIRFLOW__COMMON_IO__"))
    }
    assert {key: env.get(key) for key in shared} == shared
    connections = {"DATABRICKS_DEFAULT", "AZURE_DEVOPS_GIT_DEFAULT", STAGING_CONN_ID.upper()}
    for conn_id in connections:
        assert env[f"AIRFLOW_CONN_{conn_id}"].startswith("secret:"), conn_id
    # cache_dir on a volume of the pod's own (emptyDir), not a claim shared by pods.
    volumes = {v["name"]: v for v in values["workers"]["extraVolumes"]}
    mount = next(
        m
        for m in values["workers"]["extraVolumeMounts"]
        if env["AIRFLOW__GITSYNC__CACHE_DIR"].startswith(m["mountPath"])
    )
    assert set(volumes[mount["name"]]) == {"name", "emptyDir"}
