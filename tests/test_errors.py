"""Which errors fail a task at once (no retries) and which are retried."""

import pytest

from airflow_gitsync.airflow_compat import AirflowFailException, AirflowNotFoundException
from airflow_gitsync.dags.common import failing_fast
from airflow_gitsync.errors import AuthError, ConfigError, RateLimitedError, TransientError
from airflow_gitsync.git.runner import (
    GitAuthError,
    GitError,
    GitRemoteNotFound,
    GitRemoteRefused,
    GitTransientError,
)
from airflow_gitsync.manifest import ManifestError
from airflow_gitsync.params import SettingsError
from airflow_gitsync.staging import StagingCorruptError, StagingMissingError


@pytest.mark.parametrize(
    "error",
    [
        SettingsError("bad param"),
        ConfigError("bad option"),
        ManifestError("bad manifest"),
        AuthError("token refused", status=401),
        GitAuthError("PAT refused"),
        GitRemoteNotFound("no repository"),
        GitRemoteRefused("hook said no"),
        StagingCorruptError("bytes do not match"),
        StagingMissingError("not staged"),
        AirflowNotFoundException("no connection"),
    ],
)
def test_an_error_retrying_cannot_fix_fails_the_task_at_once(error):
    with pytest.raises(AirflowFailException, match="not retried") as failure, failing_fast():
        raise error
    assert failure.value.__cause__ is error


@pytest.mark.parametrize(
    "error",
    [
        TransientError("503"),
        RateLimitedError("429 for too long"),
        GitTransientError("reset"),
        GitError("x"),
        OSError(),
    ],
)
def test_any_other_error_is_left_to_the_retries(error):
    with pytest.raises(type(error)), failing_fast():
        raise error
