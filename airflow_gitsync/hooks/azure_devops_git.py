"""Hook for a Git repository on Azure DevOps (or any git remote): credentials in, engine out.

The connection's host is the repository URL (``https://dev.azure.com/<org>/<project>/_git/<repo>``;
any git URL works, including a local path), or a URL template holding ``{year}``
(``.../_git/notebooks-{year}``): a repository per year (:mod:`airflow_gitsync.shards`), with the
extra ``unsharded_url`` naming the single repository of the backups before the switch, if any.
Authentication, first match wins:

- extra ``ssh_private_key``: SSH (a key whose line breaks the single-line form field lost is repaired);
- extras ``tenant_id`` + ``client_id`` + ``client_secret``: a Microsoft Entra service principal;
- extra ``use_managed_identity`` (optionally ``client_id`` for a user-assigned identity) or
  ``use_default_azure_credential``: ``azure-identity``'s managed identity / default credential;
- password: a personal access token (the login is optional; Azure DevOps ignores it);
- nothing: anonymous.

Keep the PAT or client secret in a secrets backend (e.g. the Azure Key Vault backend) rather than
in the Airflow database. Every secret is registered with Airflow's secrets masker.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import urllib.request
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from airflow.sdk import BaseHook
from airflow.sdk.log import mask_secret

from airflow_gitsync.airflow_compat import AIRFLOW_V_3_2_PLUS
from airflow_gitsync.compat import UTC
from airflow_gitsync.config import GitsyncConfig
from airflow_gitsync.git.auth import GitAuth
from airflow_gitsync.git.mirror import Mirror, ls_remote, mirror_dir, remote_refs
from airflow_gitsync.git.runner import GitError, GitRemoteNotFound, redact_url
from airflow_gitsync.git.sizes import size_api_url
from airflow_gitsync.git.snapshot import SnapshotEngine
from airflow_gitsync.shards import OTHER, ShardingError, is_template, shard_url

AZURE_DEVOPS_SCOPE = "499b84ac-1321-427f-aa17-267ca6975798/.default"
REFRESH_MARGIN_SECONDS = 300
SIZE_TIMEOUT_SECONDS = 30
_ARMORED_KEY = re.compile(r"(-----BEGIN ([A-Z0-9 ]+)-----)\s*([A-Za-z0-9+/=\s]+?)\s*(-----END \2-----)")


def repair_private_key(key: str) -> str:
    """``key`` with the line breaks a single-line form field turned into spaces or dropped put back.

    A PEM or OpenSSH key on one line is rebuilt as header, base64 body wrapped at 64 characters
    (70 for OpenSSH, as ``ssh-keygen`` writes them) and footer; anything else (a key that has its
    line breaks, an encrypted PEM key with headers, not a key) is returned unchanged.
    """
    match = _ARMORED_KEY.fullmatch(key.strip())
    if match is None or "\n" in key.strip():
        return key
    header, label, body, footer = match.groups()
    body, width = "".join(body.split()), 70 if label == "OPENSSH PRIVATE KEY" else 64
    return "\n".join([header, *(body[i : i + width] for i in range(0, len(body), width)), footer]) + "\n"


class EntraTokenProvider:
    """Azure DevOps access tokens from an ``azure-identity`` credential, renewed before they expire."""

    def __init__(self, credential: Any, scope: str = AZURE_DEVOPS_SCOPE) -> None:
        self.credential = credential
        self.scope = scope
        self._token: str | None = None
        self._expires_on = 0.0

    def __call__(self) -> str:
        if self._token is None or time.time() >= self._expires_on - REFRESH_MARGIN_SECONDS:
            access = self.credential.get_token(self.scope)
            mask_secret(access.token)
            self._token, self._expires_on = access.token, float(access.expires_on)
        return self._token


class AzureDevOpsGitHook(BaseHook):
    """Owns the ``azure_devops_git`` connection: its :class:`GitAuth`, a mirror, the snapshot engine."""

    conn_name_attr = "azure_devops_git_conn_id"
    default_conn_name = "azure_devops_git_default"
    conn_type = "azure_devops_git"
    hook_name = "Azure DevOps Git"

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """The connection form's hidden fields, labels and placeholders for Airflow 3.1, which asks the hook
        (3.2 reads the provider info's ``ui-field-behaviour``, where they come from)."""
        from airflow_gitsync.get_provider_info import get_provider_info

        (info,) = get_provider_info()["connection-types"]
        return {key.replace("-", "_"): value for key, value in info["ui-field-behaviour"].items()}

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """None: Airflow 3.2 builds the form fields of the extras from the provider info's ``conn-fields``;
        on 3.1 they go into the connection's Extra, as JSON."""
        if not AIRFLOW_V_3_2_PLUS:
            logging.getLogger(__name__).warning(
                "Airflow 3.1: the %s connection form has no fields for its extras (tenant_id, client_id, "
                "client_secret, use_managed_identity, use_default_azure_credential, ssh_private_key, "
                "unsharded_url): "
                "set them in Extra as JSON. Airflow 3.2 and later show them as fields.",
                cls.conn_type,
            )
        return {}

    def __init__(self, azure_devops_git_conn_id: str = default_conn_name, **kwargs) -> None:
        super().__init__(**kwargs)
        self.azure_devops_git_conn_id = azure_devops_git_conn_id
        self._auth: GitAuth | None = None
        self._auth_lock = threading.Lock()

    @cached_property
    def connection(self):
        return self.get_connection(self.azure_devops_git_conn_id)

    @property
    def remote_url(self) -> str:
        url = (self.connection.host or "").strip()
        if not url:
            raise ValueError(f"connection {self.azure_devops_git_conn_id!r} has no repository URL (host)")
        if urlsplit(url).password is not None:  # it would reach XCom and logs; the mirror refuses it too
            raise ValueError(
                f"connection {self.azure_devops_git_conn_id!r}: the repository URL {redact_url(url)} holds a "
                "password: put it in the connection's password field instead"
            )
        return url

    @property
    def sharded(self) -> bool:
        """Whether the connection's URL is a template with ``{year}``: a repository per year."""
        return is_template(self.remote_url)

    @property
    def unsharded_url(self) -> str | None:
        """The single repository a sharded deployment backed up to before the switch (extra
        ``unsharded_url``), or None."""
        url = (self._extra("unsharded_url") or "").strip() or None
        if url and not self.sharded:
            raise ShardingError(
                f"connection {self.azure_devops_git_conn_id!r}: extra unsharded_url is set, but the "
                "repository URL (host) has no {year}; set it only when sharding by year"
            )
        if url and is_template(url):
            raise ShardingError(f"connection {self.azure_devops_git_conn_id!r}: unsharded_url holds {{year}}")
        return url

    def repository_url(self, shard: str = "") -> str:
        """The URL of ``shard``'s repository (``""``: the connection's single repository)."""
        if not shard:
            if self.sharded:
                raise ShardingError(f"connection {self.azure_devops_git_conn_id!r} is sharded by year")
            return self.remote_url
        return shard_url(self.remote_url, shard)

    def _extra(self, name: str) -> Any:
        extras = self.connection.extra_dejson
        return extras.get(name, extras.get(f"extra__{self.conn_type}__{name}"))

    def _bearer(self, credential: Any, identity: str) -> GitAuth:
        return GitAuth.bearer(EntraTokenProvider(credential), identity)

    def _build_auth(self) -> GitAuth:
        # azure-identity (0.1 s to import) only for the connections that use it.
        from azure import identity as azure_identity

        client_id = self._extra("client_id")
        if key := self._extra("ssh_private_key"):
            return GitAuth.ssh(repair_private_key(key))
        if self._extra("tenant_id") and client_id and self._extra("client_secret"):
            mask_secret(self._extra("client_secret"))
            credential = azure_identity.ClientSecretCredential(
                self._extra("tenant_id"), client_id, self._extra("client_secret")
            )
            return self._bearer(credential, f"entra service principal {client_id}")
        if self._extra("use_managed_identity"):
            credential = azure_identity.ManagedIdentityCredential(client_id=client_id or None)
            return self._bearer(credential, f"managed identity {client_id or 'system-assigned'}")
        if self._extra("use_default_azure_credential"):
            return self._bearer(azure_identity.DefaultAzureCredential(), "default azure credential")
        if self.connection.password:
            return GitAuth.basic(self.connection.login or "", self.connection.password)
        return GitAuth.none()

    def get_auth(self, url: str | None = None) -> GitAuth:
        """The connection's credentials as a :class:`GitAuth` (one for every shard, built once: the
        repositories of a run are opened side by side), its secrets registered with the masker."""
        with self._auth_lock:
            if self._auth is None:
                self._auth = self._build_auth()
                for secret in self._auth.secrets():
                    mask_secret(secret)
            auth = self._auth
        self.log.info(
            "git remote %s authenticates as %s", redact_url(url or self.remote_url), auth.describe()
        )
        return auth

    def repository_size(self, url: str) -> int | None:
        """The size Azure DevOps reports for the repository at ``url`` (its REST API's compressed
        size, one request), or None when the URL is not an Azure DevOps one, the connection
        authenticates by SSH, or the request fails (logged): a blobless mirror cannot measure it."""
        api, header = size_api_url(url), self.get_auth(url).http_header()
        if api is None or header is None:
            return None
        request = urllib.request.Request(api, headers=dict([header, ("Accept", "application/json")]))
        try:
            with urllib.request.urlopen(request, timeout=SIZE_TIMEOUT_SECONDS) as response:
                size = json.loads(response.read(1 << 20)).get("size")
        except (OSError, ValueError, AttributeError) as exc:
            self.log.warning("the size of %s could not be read from %s: %s", redact_url(url), api, exc)
            return None
        return size if isinstance(size, int) and size >= 0 else None

    def remote_refs(self, url: str, *patterns: str) -> dict[str, str]:
        """The refs of the repository at ``url`` matching ``patterns`` (:func:`remote_refs`)."""
        return remote_refs(url, self.get_auth(url), self.log, *patterns)

    def get_mirror(self, cache_dir: Path | str, url: str | None = None) -> Mirror:
        """The bare mirror of the connection's repository (or of ``url``, one of its shards) under
        ``cache_dir`` (call ``sync()`` first); its lock waits for another task at most
        ``[gitsync] lock_timeout_minutes``."""
        url = url or self.repository_url()
        return Mirror(
            mirror_dir(Path(cache_dir), url), url, self.get_auth(url), self.log,
            lock_timeout=GitsyncConfig.load().lock_timeout,
        )  # fmt: skip

    def get_engine(
        self,
        cache_dir: Path | str,
        branch: str = "main",
        working_branch: str = "backup/daily",
        url: str | None = None,
    ) -> SnapshotEngine:
        """A snapshot engine for the connection's repository (or for ``url``, one of its shards), its
        mirror cached under ``cache_dir`` (and locked as :meth:`get_mirror` says)."""
        url = url or self.repository_url()
        return SnapshotEngine(
            url,
            auth=self.get_auth(url),
            cache_dir=Path(cache_dir),
            branch=branch,
            working_branch=working_branch,
            logger=self.log,
            lock_timeout=GitsyncConfig.load().lock_timeout,
        )

    def test_connection(self) -> tuple[bool, str]:
        """List the remote's branches (``git ls-remote``) with the connection's credentials; with a
        repository per year, those of this year's repository, else last year's, else ``other``."""
        try:
            if self.sharded:
                year = datetime.now(UTC).year
                shards = [str(year), str(year - 1), OTHER]
            else:
                shards = [""]
            for shard in shards:
                url = self.repository_url(shard)
                try:
                    heads = ls_remote(url, self.get_auth(url), self.log).splitlines()
                    break
                except GitRemoteNotFound:
                    if shard == shards[-1]:
                        raise
        except (GitError, ValueError) as exc:
            return False, str(exc)
        return True, f"Connected to {redact_url(url)}: {len(heads)} branch(es)"
