"""Hook for the Databricks Workspace API, on a ``databricks`` connection."""

from __future__ import annotations

from pathlib import Path

from airflow.providers.databricks.hooks.databricks_base import BaseDatabricksHook
from airflow.sdk.log import mask_secret

from airflow_gitsync import __version__
from airflow_gitsync.workspace.client import (
    DEFAULT_MAX_RETRY_SECONDS,
    DEFAULT_MAX_WORKERS,
    WorkspaceClient,
)


class DatabricksWorkspaceHook(BaseDatabricksHook):
    """Builds a :class:`~airflow_gitsync.workspace.client.WorkspaceClient` from a Databricks connection.

    The connection's host and every auth method the Databricks provider supports (personal access
    token, Azure AD service principal or managed identity, OAuth M2M service principal, federated
    tokens) come from :class:`BaseDatabricksHook`; the client owns the transport, its rate limits and
    retries, so no provider retry layer is stacked on top.

    :param databricks_conn_id: the ``databricks`` connection to use.
    """

    hook_name = "Databricks Workspace"

    def __init__(self, databricks_conn_id: str = BaseDatabricksHook.default_conn_name, **kwargs) -> None:
        super().__init__(databricks_conn_id, caller="DatabricksWorkspaceHook", **kwargs)
        self._masked_token: str | None = None

    def _token(self) -> str:
        """The connection's current token, registered with the secrets masker whenever it changes."""
        token = self._get_token(raise_error=True)
        if token != self._masked_token:
            mask_secret(token)
            self._masked_token = token
        return token

    def get_client(
        self,
        rates: dict[str, float] | None = None,
        max_workers: int = DEFAULT_MAX_WORKERS,
        max_retry_seconds: float = DEFAULT_MAX_RETRY_SECONDS,
        limiter_dir: Path | None = None,
        limiter_url: str | None = None,
    ) -> WorkspaceClient:
        """A client for this connection's workspace; close it (or use ``with``) when done.

        :param rates: requests per second per endpoint class (``export``, ``list``, ``import``,
            ``other``), over the published defaults.
        :param max_workers: concurrent requests inside the task.
        :param max_retry_seconds: how long one call may keep retrying before it raises.
        :param limiter_dir: share the rate limit with every process on this machine that uses it.
        :param limiter_url: share it through this Redis with every machine that uses it instead.
        """
        return WorkspaceClient(
            self._endpoint_url("").rstrip("/"),
            self._token,
            headers_provider=self._get_aad_headers,
            rates=rates,
            max_workers=max_workers,
            max_retry_seconds=max_retry_seconds,
            timeout=(10.0, float(self.timeout_seconds)),
            user_agent=f"{self.user_agent_value} airflow-gitsync/{__version__}",
            proxies=self.proxies,
            limiter_dir=limiter_dir,
            limiter_url=limiter_url,
        )
