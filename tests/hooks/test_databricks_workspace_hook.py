"""Each auth style of a ``databricks`` connection reaches the emulator through the hook.

Token endpoints (Databricks OIDC, Azure App Service managed identity, the Azure instance metadata
service) are served by a small local stub; Entra ID client-secret login is patched at the
azure-identity credential. The workspace calls are real HTTP to the emulator in every case.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from azure.core.credentials import AccessToken

from airflow_gitsync.errors import AuthError
from airflow_gitsync.hooks.databricks_workspace import DatabricksWorkspaceHook

DATABRICKS_SCOPE = "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d"


@pytest.fixture
def token_service():
    """Stub token endpoints; records what was asked."""
    calls: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def reply(self, status, payload):
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
            calls.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
            expected = "Basic " + base64.b64encode(b"sp-client-id:sp-secret").decode()
            if self.path != "/oidc/v1/token" or self.headers.get("Authorization") != expected:
                return self.reply(401, {"error": "invalid_client"})
            self.reply(200, {"access_token": "oauth-m2m-token", "token_type": "Bearer", "expires_in": 3600})

        def do_GET(self):
            url = urlsplit(self.path)
            calls.append({"path": url.path, "query": parse_qs(url.query), "headers": dict(self.headers)})
            if url.path == "/metadata/instance":
                return self.reply(200, {"compute": {"azEnvironment": "AzurePublicCloud"}})
            if url.path == "/msi/token" and self.headers.get("X-IDENTITY-HEADER") == "msi-secret":
                resource = parse_qs(url.query)["resource"][0]
                token = {"access_token": "msi-token", "resource": resource, "token_type": "Bearer"}
                return self.reply(200, {**token, "expires_on": str(int(time.time()) + 3600)})
            self.reply(404, {"error": "not found"})

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", calls
    httpd.shutdown()
    httpd.server_close()


def set_connection(monkeypatch, emulator, conn_id="databricks_default", **fields):
    conn = {"conn_type": "databricks", "host": "127.0.0.1", "port": emulator.port, "schema": "http", **fields}
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))


def list_root(hook):
    with hook.get_client(max_workers=2) as client:
        return [o["path"] for o in client.list("/Clients")]


def test_personal_access_token(emulator, monkeypatch):
    set_connection(monkeypatch, emulator, password="dapi-test")
    hook = DatabricksWorkspaceHook()
    assert hook.databricks_conn_id == "databricks_default"
    assert "/Clients/2023" in list_root(hook)
    with hook.get_client() as client:
        assert client.export(client.list("/Clients/2023/ENG-2023-0000/NOTEBOOKS")[0]["path"]).startswith(b"#")


def test_token_in_extra_and_other_connection_id(emulator, monkeypatch):
    set_connection(monkeypatch, emulator, "dbx_backup", extra={"token": "dapi-test"})
    assert "/Clients/2023" in list_root(DatabricksWorkspaceHook("dbx_backup"))


def test_wrong_token_says_what_to_check(emulator, monkeypatch):
    set_connection(monkeypatch, emulator, password="dapi-wrong")
    with pytest.raises(AuthError, match=r"127\.0\.0\.1.*403.*token"):
        list_root(DatabricksWorkspaceHook())


def test_oauth_m2m_service_principal(emulator, monkeypatch, token_service):
    url, calls = token_service
    emulator.add_token("oauth-m2m-token")
    set_connection(
        monkeypatch,
        emulator,
        login="sp-client-id",
        password="sp-secret",
        extra={"service_principal_oauth": True},
    )
    masked: list[str] = []
    monkeypatch.setattr("airflow_gitsync.hooks.databricks_workspace.mask_secret", masked.append)
    hook = DatabricksWorkspaceHook()
    monkeypatch.setattr(hook, "_get_oidc_token_service_url", lambda: f"{url}/oidc/v1/token")
    assert "/Clients/2023" in list_root(hook)
    assert "/Clients/2023" in list_root(hook)  # the token is cached, not fetched per request
    assert [c["body"] for c in calls] == ["grant_type=client_credentials&scope=all-apis"]
    assert masked == ["oauth-m2m-token"], "a fetched token must reach the secrets masker, once"


class FakeClientSecretCredential:
    instances: list[dict] = []

    def __init__(self, client_id, client_secret, tenant_id, **kwargs):
        self.instances.append({"client_id": client_id, "secret": client_secret, "tenant_id": tenant_id})

    def get_token(self, scope):
        self.instances[-1]["scope"] = scope
        token = "aad-sp-token" if scope == f"{DATABRICKS_SCOPE}/.default" else "aad-management-token"
        return AccessToken(token, int(time.time()) + 3600)


def test_azure_ad_service_principal_with_management_token(emulator, monkeypatch):
    import azure.identity

    monkeypatch.setattr(azure.identity, "ClientSecretCredential", FakeClientSecretCredential)
    monkeypatch.setattr(FakeClientSecretCredential, "instances", [])
    emulator.add_token("aad-sp-token")
    set_connection(
        monkeypatch,
        emulator,
        login="sp-app-id",
        password="sp-secret",
        extra={"azure_tenant_id": "tenant-1", "azure_resource_id": "/subscriptions/s/workspaces/w"},
    )
    hook = DatabricksWorkspaceHook()
    assert "/Clients/2023" in list_root(hook)
    scopes = {c["scope"] for c in FakeClientSecretCredential.instances}
    assert scopes == {f"{DATABRICKS_SCOPE}/.default", "https://management.core.windows.net//.default"}
    assert {c["tenant_id"] for c in FakeClientSecretCredential.instances} == {"tenant-1"}
    with hook.get_client() as client:
        headers = client._headers()
    assert headers["X-Databricks-Azure-SP-Management-Token"] == "aad-management-token"
    assert headers["X-Databricks-Azure-Workspace-Resource-Id"] == "/subscriptions/s/workspaces/w"


def test_azure_managed_identity(emulator, monkeypatch, token_service):
    import airflow.providers.databricks.hooks.databricks_base as databricks_base

    url, calls = token_service
    monkeypatch.setattr(databricks_base, "AZURE_METADATA_SERVICE_INSTANCE_URL", f"{url}/metadata/instance")
    monkeypatch.setenv("IDENTITY_ENDPOINT", f"{url}/msi/token")
    monkeypatch.setenv("IDENTITY_HEADER", "msi-secret")
    emulator.add_token("msi-token")
    set_connection(monkeypatch, emulator, extra={"use_azure_managed_identity": True})
    assert "/Clients/2023" in list_root(DatabricksWorkspaceHook())
    msi = [c for c in calls if c["path"] == "/msi/token"]
    assert msi and msi[0]["query"]["resource"] == [DATABRICKS_SCOPE]


def test_no_credentials_configured(emulator, monkeypatch):
    set_connection(monkeypatch, emulator, login="user-without-password")
    with pytest.raises(Exception, match="Token authentication isn't configured"):
        list_root(DatabricksWorkspaceHook())
