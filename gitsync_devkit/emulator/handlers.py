"""The Workspace API endpoints: one handler per route, taking (emulator, query, JSON or form body)."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gitsync_devkit.emulator.formats import export, import_target, size_message
from gitsync_devkit.emulator.model import WorkspaceError
from gitsync_devkit.emulator.replies import Reply
from gitsync_devkit.workspace_generator import MAX_EXPORT_BYTES

if TYPE_CHECKING:
    from gitsync_devkit.emulator.workspace_emulator import WorkspaceEmulator

ENDPOINTS = ("list", "get-status", "export", "import", "delete", "mkdirs")


def _api_list(emu: WorkspaceEmulator, query: dict[str, str], _: dict[str, Any]) -> Any:
    after = int(query.get("notebooks_modified_after") or 0)
    nodes = emu.workspace.children(_required(query, "path"))
    objects = [
        emu._object_info(n)
        for n in nodes
        if not after or n.object_type != "NOTEBOOK" or n.modified_at > after
    ]
    return {"objects": objects} if objects else {}


def _api_get_status(emu: WorkspaceEmulator, query: dict[str, str], _: dict[str, Any]) -> Any:
    return emu._object_info(emu.workspace.get(_required(query, "path")))


def _api_export(emu: WorkspaceEmulator, query: dict[str, str], _: dict[str, Any]) -> Any:
    node = emu.workspace.get(_required(query, "path"))
    content, file_type = export(emu.workspace, node, query.get("format") or "SOURCE")
    if query.get("direct_download", "").lower() == "true":
        raise Reply(200, content, "application/octet-stream")
    return {"content": base64.b64encode(content).decode(), "file_type": file_type}


def _api_import(emu: WorkspaceEmulator, _: dict[str, str], body: dict[str, Any]) -> Any:
    path = _required(body, "path")
    content = body.get("content")
    if content is None:
        raise WorkspaceError(400, "INVALID_PARAMETER_VALUE", "Missing required field: content")
    data = content if isinstance(content, bytes) else b64decode(content)
    if len(data) > MAX_EXPORT_BYTES:
        raise WorkspaceError(400, "MAX_NOTEBOOK_SIZE_EXCEEDED", size_message(len(data)))
    path, object_type, language, data = import_target(
        path, data, body.get("format") or "SOURCE", body.get("language")
    )
    overwrite = body.get("overwrite") in (True, "true", "True")
    emu.workspace.write(path, object_type, data, language, overwrite=overwrite)
    return {}


def _api_delete(emu: WorkspaceEmulator, _: dict[str, str], body: dict[str, Any]) -> Any:
    emu.workspace.delete(_required(body, "path"), body.get("recursive") in (True, "true"))
    return {}


def _api_mkdirs(emu: WorkspaceEmulator, _: dict[str, str], body: dict[str, Any]) -> Any:
    emu.workspace.mkdirs(_required(body, "path"))
    return {}


Handler = Callable[["WorkspaceEmulator", dict[str, str], dict[str, Any]], Any]
API_ROUTES: dict[tuple[str, str], tuple[str, Handler]] = {
    ("GET", "/api/2.0/workspace/list"): ("list", _api_list),
    ("GET", "/api/2.0/workspace/get-status"): ("get-status", _api_get_status),
    ("GET", "/api/2.0/workspace/export"): ("export", _api_export),
    ("POST", "/api/2.0/workspace/import"): ("import", _api_import),
    ("POST", "/api/2.0/workspace/delete"): ("delete", _api_delete),
    ("POST", "/api/2.0/workspace/mkdirs"): ("mkdirs", _api_mkdirs),
}


def b64decode(text: Any) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (TypeError, ValueError) as exc:
        raise WorkspaceError(400, "INVALID_PARAMETER_VALUE", "Content is not valid base64.") from exc


def _required(params: dict[str, Any], name: str) -> str:
    value = params.get(name)
    if not isinstance(value, str) or not value:
        raise WorkspaceError(400, "INVALID_PARAMETER_VALUE", f"Missing required field: {name}")
    return value
