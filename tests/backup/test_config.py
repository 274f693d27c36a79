"""The [gitsync] section: declared once, published to Airflow, read with AIRFLOW_HOME honoured."""

from datetime import timedelta

import pytest

from airflow_gitsync.config import GitsyncConfig
from airflow_gitsync.errors import ConfigError
from airflow_gitsync.get_provider_info import get_provider_info
from airflow_gitsync.options import OPTIONS, SECTION, provider_config


def _load(**values):
    return GitsyncConfig.load(
        get=lambda section, key, fallback: values.get(key, fallback), airflow_home=lambda: "/srv/airflow"
    )


def test_defaults_come_from_the_declaration_and_follow_airflow_home():
    config = _load()
    assert config.staging_url == "file:///srv/airflow/gitsync/staging"
    assert str(config.cache_dir) == "/srv/airflow/gitsync/mirrors"
    assert config.rates == {"export": 60.0, "list": 50.0, "import": 30.0, "other": 30.0}
    assert (config.parallel_tasks, config.max_workers, config.export_task_calls) == (4, 16, 200)
    assert config.client_options()["limiter_dir"] == config.cache_dir / "ratelimit"
    assert config.client_options()["limiter_url"] is None  # no Celery: files on this machine
    assert (config.staging_retention_days, config.verify_sample_percent) == (7, 3.0)
    assert (config.task_timeout, config.lock_timeout) == (timedelta(hours=6), 1800)
    assert (config.staging_conn_id, config.failure_notifier, config.failure_notifier_kwargs) == (
        None,
        None,
        {},
    )


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"parallel_tasks": "0"}, r"\[gitsync\] parallel_tasks = 0: must be at least 1"),
        ({"export_rps": "fast"}, r"\[gitsync\] export_rps = 'fast': not float"),
        ({"staging_retention_days": "0"}, r"staging_retention_days = 0: must be at least 1"),
        ({"verify_sample_percent": "101"}, r"verify_sample_percent = 101: must be at most 100"),
        ({"task_timeout_hours": "0"}, r"\[gitsync\] task_timeout_hours = 0: must be at least 0.1"),
        ({"task_timeout_hours": "6h"}, r"\[gitsync\] task_timeout_hours = '6h': not float"),
        ({"task_timeout_hours": "1e12"}, r"task_timeout_hours = 1e12: must be at most 168"),
        ({"lock_timeout_minutes": "inf"}, r"lock_timeout_minutes = inf: must be a finite number"),
        ({"export_rps": "nan"}, r"export_rps = nan: must be a finite number"),
        ({"lock_timeout_minutes": "0"}, r"\[gitsync\] lock_timeout_minutes = 0: must be at least 1"),
        ({"failure_notifier_kwargs": "{to:"}, r"failure_notifier_kwargs is not JSON"),
        ({"failure_notifier_kwargs": "[1]"}, r"failure_notifier_kwargs must be a JSON object"),
        ({"rate_limit_url": "memcached://m:11211"}, r"rate_limit_url: auto, local or a redis:// URL"),
    ],
)
def test_a_bad_value_names_the_option(values, message):
    with pytest.raises(ConfigError, match=message):
        _load(**values)


@pytest.mark.parametrize(
    ("values", "url"),
    [
        ({"executor": "CeleryExecutor", "broker_url": "redis://redis:6379/0"}, "redis://redis:6379/0"),
        (
            {"executor": "KubernetesExecutor,CeleryExecutor", "broker_url": "rediss://r:6380/0"},
            "rediss://r:6380/0",
        ),
        ({"executor": "CeleryExecutor", "broker_url": "amqp://rabbit:5672//"}, None),
        ({"executor": "KubernetesExecutor", "broker_url": "redis://redis:6379/0"}, None),
        ({"executor": "CeleryExecutor", "broker_url": "redis://r/0", "rate_limit_url": "local"}, None),
        ({"executor": "LocalExecutor", "rate_limit_url": "redis://limits:6379/3"}, "redis://limits:6379/3"),
    ],
)
def test_the_rate_limit_is_shared_through_the_celery_brokers_redis_or_the_one_named(values, url):
    assert _load(**values).client_options()["limiter_url"] == url


def test_the_provider_declares_every_option():
    declared = get_provider_info()["config"][SECTION]["options"]
    assert list(declared) == [o.name for o in OPTIONS]
    assert declared == provider_config()[SECTION]["options"]
    for option in declared.values():
        assert option["type"] in ("string", "integer", "float") and option["description"]


def test_airflow_lists_the_section_and_honours_airflow_home(airflow_process):
    listed = airflow_process["config list --defaults"]
    assert "[gitsync]" in listed and "AIRFLOW__GITSYNC__STAGING_URL" in listed
    loaded = airflow_process["staging_url"].strip()
    assert loaded == f"file://{airflow_process['airflow_home']}/gitsync/staging"
