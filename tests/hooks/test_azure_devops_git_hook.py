"""AzureDevOpsGitHook: connection to GitAuth and engine, against the authenticated local git server."""

from __future__ import annotations

import json
import shlex
import subprocess
import time
from datetime import datetime

import azure.identity
import pytest
from azure.core.credentials import AccessToken

from airflow_gitsync.airflow_compat import AIRFLOW_V_3_2_PLUS
from airflow_gitsync.blob import git_blob_id
from airflow_gitsync.compat import UTC
from airflow_gitsync.get_provider_info import get_provider_info
from airflow_gitsync.git.snapshot import ChangeSet, CommitInfo
from airflow_gitsync.hooks import azure_devops_git
from airflow_gitsync.hooks.azure_devops_git import AzureDevOpsGitHook, EntraTokenProvider
from airflow_gitsync.manifest import ManifestEntry
from airflow_gitsync.shards import ShardingError
from tests.fixtures.git_server import GIT_TOKEN
from tests.fixtures.packs import into_mirror

INFO = CommitInfo("manual__1", "2026-11-27T00:00:00+00:00", "2026-11-27T02:00:00+00:00")


class StubCredential:
    """Stands in for an azure-identity credential; hands out the git server's token."""

    def __init__(self, *args, lifetime: float = 3600, **kwargs) -> None:
        self.args, self.kwargs, self.lifetime, self.scopes = args, kwargs, lifetime, []

    def get_token(self, *scopes: str) -> AccessToken:
        self.scopes.append(scopes)
        return AccessToken(GIT_TOKEN, int(time.time() + self.lifetime))


@pytest.fixture
def masked(monkeypatch) -> list:
    values: list = []
    monkeypatch.setattr(azure_devops_git, "mask_secret", values.append)
    return values


@pytest.fixture
def connection(monkeypatch):
    def define(conn_id: str = "azure_devops_git_default", **fields) -> str:
        monkeypatch.setenv(
            f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "azure_devops_git", **fields})
        )
        return conn_id

    return define


def _apply(hook: AzureDevOpsGitHook, tmp_path) -> None:
    content = b"# Databricks notebook source\n"
    entry = ManifestEntry(
        "2026/E1/NOTEBOOKS/a.py",
        "/Clients/2026/E1/NOTEBOOKS/a",
        1,
        "NOTEBOOK",
        "PYTHON",
        1,
        git_blob_id(content),
    )
    engine = hook.get_engine(tmp_path / "cache")
    into_mirror(engine, [content])
    result = engine.apply(ChangeSet([entry]), INFO, tag="backup/2026-11-27")
    assert result.changed and result.tag_created


def test_pat_connection_backs_up_and_masks(connection, git_remote, tmp_path, masked):
    hook = AzureDevOpsGitHook(connection(host=git_remote, login="backup", password=GIT_TOKEN))
    assert hook.test_connection() == (True, f"Connected to {git_remote}: 0 branch(es)")
    _apply(hook, tmp_path)
    assert hook.test_connection()[1].endswith("2 branch(es)")
    assert GIT_TOKEN in masked and hook.get_auth().describe() == "pat backup"


def test_wrong_pat_fails_the_connection_test(connection, git_remote):
    ok, message = AzureDevOpsGitHook(connection(host=git_remote, password="nope")).test_connection()
    assert not ok and message.startswith(f"authentication failed for {git_remote}") and "nope" not in message


def test_service_principal_gets_a_bearer_token_once(connection, git_remote, tmp_path, masked, monkeypatch):
    credentials: list[StubCredential] = []

    def client_secret_credential(*args) -> StubCredential:
        credentials.append(StubCredential(*args))
        return credentials[-1]

    monkeypatch.setattr(azure.identity, "ClientSecretCredential", client_secret_credential)
    conn_id = connection(
        host=git_remote, extra={"tenant_id": "t-1", "client_id": "c-1", "client_secret": "cs-9"}
    )
    hook = AzureDevOpsGitHook(conn_id)
    _apply(hook, tmp_path)
    [credential] = credentials
    assert credential.args == ("t-1", "c-1", "cs-9")
    assert credential.scopes == [("499b84ac-1321-427f-aa17-267ca6975798/.default",)]  # cached across commands
    assert {"cs-9", GIT_TOKEN} <= set(masked)
    assert hook.get_auth().describe() == "bearer entra service principal c-1"


def test_token_is_refreshed_before_expiry():
    credential = StubCredential(lifetime=60)  # inside the refresh margin: every call renews
    provider = EntraTokenProvider(credential)
    provider(), provider()
    assert len(credential.scopes) == 2
    fresh = StubCredential()
    provider = EntraTokenProvider(fresh)
    provider(), provider()
    assert len(fresh.scopes) == 1


def test_managed_identity_and_default_credential(connection, git_remote, monkeypatch, masked):
    monkeypatch.setattr(azure.identity, "ManagedIdentityCredential", StubCredential)
    monkeypatch.setattr(azure.identity, "DefaultAzureCredential", StubCredential)
    managed = AzureDevOpsGitHook(
        connection(host=git_remote, extra={"use_managed_identity": True, "client_id": "mi"})
    )
    assert managed.test_connection()[0] and managed.get_auth().describe() == "bearer managed identity mi"
    default = AzureDevOpsGitHook(
        connection("d", host=git_remote, extra={"use_default_azure_credential": True})
    )
    assert default.test_connection()[0] and default.get_auth().describe() == "bearer default azure credential"


def test_ssh_key_extra_wins(connection, masked):
    hook = AzureDevOpsGitHook(connection(host="ssh://git@ssh.dev.azure.com/v3/o/p/r", password="pat",
                                         extra={"ssh_private_key": "KEY"}))  # fmt: skip
    assert hook.get_auth().describe() == "ssh" and "KEY\n" in masked


@pytest.fixture(scope="module")
def ssh_keys(tmp_path_factory) -> dict[str, tuple[str, str]]:
    """Real unencrypted keys as ``ssh-keygen`` writes them: ``{kind: (private key, public key)}``."""
    folder, keys = tmp_path_factory.mktemp("keys"), {}
    for kind, options in (
        ("ed25519", ["-t", "ed25519"]),
        ("rsa-pem", ["-m", "PEM", "-t", "rsa", "-b", "2048"]),
    ):
        subprocess.run(["ssh-keygen", "-q", *options, "-N", "", "-C", "", "-f", folder / kind], check=True)
        keys[kind] = ((folder / kind).read_text(), (folder / f"{kind}.pub").read_text().split()[1])
    return keys


def _key_file_public_key(hook: AzureDevOpsGitHook) -> tuple[str, str]:
    """The key file ssh would be given, and its public key as ``ssh-keygen -y`` reads it (or its error)."""
    with hook.get_auth().env(hook.remote_url) as env:
        key_file = shlex.split(env["GIT_SSH_COMMAND"])[2]
        derived = subprocess.run(["ssh-keygen", "-y", "-f", key_file], capture_output=True, text=True)
        with open(key_file) as handle:
            return handle.read(), derived.stdout.split()[1] if derived.returncode == 0 else derived.stderr


@pytest.mark.parametrize("kind", ["ed25519", "rsa-pem"])
@pytest.mark.parametrize("line_break", [" ", "", "\n"], ids=["as-spaces", "vanished", "intact"])
def test_ssh_key_that_lost_its_line_breaks_in_the_form_is_repaired(connection, ssh_keys, kind, line_break):
    private_key, public_key = ssh_keys[kind]
    typed = line_break.join(private_key.splitlines())  # what the single-line form field kept
    hook = AzureDevOpsGitHook(connection(host="ssh://git@ssh.dev.azure.com/v3/o/p/r",
                                         extra={"ssh_private_key": typed}))  # fmt: skip
    assert _key_file_public_key(hook) == (private_key, public_key)


def test_missing_host_is_a_clear_error(connection):
    ok, message = AzureDevOpsGitHook(connection(password="x")).test_connection()
    assert not ok and "has no repository URL" in message


def test_registered_as_connection_type():
    from airflow.providers_manager import ProvidersManager

    [conn_type] = get_provider_info()["connection-types"]
    assert conn_type["hook-class-name"] == "airflow_gitsync.hooks.azure_devops_git.AzureDevOpsGitHook"
    assert conn_type["connection-type"] == AzureDevOpsGitHook.conn_type == "azure_devops_git"
    behaviour = AzureDevOpsGitHook.get_ui_field_behaviour()  # what Airflow 3.1 reads
    assert behaviour["relabeling"]["host"] == "Repository URL" and "port" in behaviour["hidden_fields"]
    if AIRFLOW_V_3_2_PLUS:  # from the provider info; 3.1 imports wtforms for it, which it may not have
        assert ProvidersManager().field_behaviours["azure_devops_git"] == behaviour


def test_a_url_template_shards_by_year_and_is_checked(connection):
    template = "https://dev.azure.com/o/p/_git/nb-{year}"
    hook = AzureDevOpsGitHook(
        connection(host=template, extra=json.dumps({"unsharded_url": "https://h/single"}))
    )
    assert hook.sharded and hook.unsharded_url == "https://h/single"
    assert hook.repository_url("2024") == "https://dev.azure.com/o/p/_git/nb-2024"
    assert hook.repository_url("other").endswith("/nb-other")
    with pytest.raises(ShardingError, match="is sharded by year"):
        hook.repository_url()
    with pytest.raises(ShardingError, match="four digits"):
        hook.repository_url("../x")
    single = AzureDevOpsGitHook(
        connection(host="https://h/r", extra=json.dumps({"unsharded_url": "https://h/s"}))
    )
    with pytest.raises(ShardingError, match=r"unsharded_url is set, but the repository URL \(host\) has no"):
        assert single.unsharded_url is None
    leaky = AzureDevOpsGitHook(connection(host="https://user:secret@h/nb-{year}"))
    with pytest.raises(ValueError, match="holds a password") as raised:
        assert not leaky.sharded
    assert "secret" not in str(raised.value)


def test_a_sharded_connection_is_tested_on_this_or_last_years_repository(connection, git_server):
    year = datetime.now(UTC).year
    template = git_server.url_for("proj/_git/nb-{year}")
    hook = AzureDevOpsGitHook(connection(host=template, login="backup", password=GIT_TOKEN))
    ok, message = hook.test_connection()
    assert not ok and "nb-other not found" in message
    git_server.create_repo(f"proj/_git/nb-{year - 1}")
    again = AzureDevOpsGitHook(connection(host=template, login="backup", password=GIT_TOKEN))
    ok, message = again.test_connection()
    assert ok and message.startswith(f"Connected to {git_server.url_for(f'proj/_git/nb-{year - 1}')}")
