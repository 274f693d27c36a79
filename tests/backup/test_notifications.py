import pytest
from airflow.providers.smtp.notifications.smtp import SmtpNotifier

from airflow_gitsync.config import GitsyncConfig
from airflow_gitsync.notifications import failure_notifiers

SMTP = "airflow.providers.smtp.notifications.smtp.SmtpNotifier"


def test_no_notifier_by_default(monkeypatch):
    monkeypatch.delenv("AIRFLOW__GITSYNC__FAILURE_NOTIFIER", raising=False)
    assert failure_notifiers(GitsyncConfig.load()) == []


def test_configured_notifier_with_its_arguments(monkeypatch):
    monkeypatch.setenv("AIRFLOW__GITSYNC__FAILURE_NOTIFIER", SMTP)
    monkeypatch.setenv("AIRFLOW__GITSYNC__FAILURE_NOTIFIER_KWARGS", '{"to": "data-platform@example.com"}')
    (notifier,) = failure_notifiers(GitsyncConfig.load())
    assert isinstance(notifier, SmtpNotifier)
    assert notifier.to == "data-platform@example.com"


@pytest.mark.parametrize(
    ("path", "kwargs", "message"),
    [
        (SMTP, "{to:", "failure_notifier_kwargs is not JSON"),
        ("airflow_gitsync.params.BackupSettings", "{}", "is not a BaseNotifier class"),
    ],
)
def test_bad_notifier_config_names_the_setting(monkeypatch, path, kwargs, message):
    monkeypatch.setenv("AIRFLOW__GITSYNC__FAILURE_NOTIFIER", path)
    monkeypatch.setenv("AIRFLOW__GITSYNC__FAILURE_NOTIFIER_KWARGS", kwargs)
    with pytest.raises(ValueError, match=message):
        failure_notifiers(GitsyncConfig.load())
