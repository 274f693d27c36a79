"""Export and import formats: SOURCE/AUTO/JUPYTER/HTML/R_MARKDOWN/RAW, a directory as a zip, and the
rules that decide whether an import becomes a notebook or a file."""

from __future__ import annotations

import html
import io
import json
import zipfile
from typing import Any

from gitsync_devkit.emulator.model import CONTENT_TYPES, Node, Workspace, WorkspaceError
from gitsync_devkit.workspace_generator import CELL_SEPARATORS, FILE_TYPES, MAX_EXPORT_BYTES, NOTEBOOK_HEADERS

_EXTENSIONS = {f".{ext}": lang for lang, ext in FILE_TYPES.items()} | {".R": "R"}


def size_message(size: int) -> str:
    return f"File size imported is ({size} bytes), exceeded max size ({MAX_EXPORT_BYTES} bytes)"


def check_language(language: Any) -> str:
    if language not in NOTEBOOK_HEADERS:
        raise WorkspaceError(400, "INVALID_PARAMETER_VALUE", f"Unsupported language: {language!r}")
    return language


def export(workspace: Workspace, node: Node, fmt: str) -> tuple[bytes, str]:
    """(content, file_type) of ``node`` in ``fmt``, with the 10 MB limit and the real API's refusals."""
    if node.object_type == "DIRECTORY":
        if fmt not in ("SOURCE", "AUTO"):
            raise WorkspaceError(
                400,
                "INVALID_PARAMETER_VALUE",
                f"Export format {fmt} is not supported for directories by the emulator.",
            )
        return _zip_directory(node.path, workspace.nodes_under(node.path), with_files=fmt == "AUTO"), "zip"
    if node.object_type not in CONTENT_TYPES:
        raise WorkspaceError(400, "BAD_REQUEST", f"Export of {node.object_type} objects is not supported.")
    if node.size > MAX_EXPORT_BYTES:
        code = "MAX_NOTEBOOK_SIZE_EXCEEDED" if node.object_type == "NOTEBOOK" else "BAD_REQUEST"
        raise WorkspaceError(400, code, size_message(node.size))
    if node.object_type == "FILE":
        if fmt not in ("SOURCE", "AUTO", "RAW"):
            raise WorkspaceError(
                400, "INVALID_PARAMETER_VALUE", f"Export format {fmt} is not supported for files."
            )
        return node.read(), node.path.rsplit(".", 1)[-1] if "." in node.path.rsplit("/", 1)[-1] else ""
    language = node.language or "PYTHON"
    if fmt in ("SOURCE", "AUTO"):
        return node.read(), FILE_TYPES[language]
    if fmt == "JUPYTER":
        return _to_jupyter(node.path, language, node.read()), "ipynb"
    if fmt == "HTML":
        return _to_html(node.path, node.read()), "html"
    if fmt == "R_MARKDOWN" and language == "R":
        return node.read(), "Rmd"
    raise WorkspaceError(
        400, "INVALID_PARAMETER_VALUE", f"Export format {fmt} is not supported for {language} notebooks."
    )


def classify_upload(path: str, head: bytes) -> tuple[str, str, str | None]:
    """AUTO rule: a known source extension plus a notebook header makes a notebook without the extension."""
    name = path.rsplit("/", 1)[-1]
    for extension, language in _EXTENSIONS.items():
        header = NOTEBOOK_HEADERS[language].encode()
        if name.endswith(extension) and len(name) > len(extension) and head.startswith(header):
            return path[: -len(extension)], "NOTEBOOK", language
    return path, "FILE", None


def import_target(path: str, data: bytes, fmt: str, language: Any) -> tuple[str, str, str | None, bytes]:
    """(path, object_type, language, stored bytes) for an import in ``fmt``."""
    if fmt == "SOURCE":
        if not language:
            raise WorkspaceError(
                400, "INVALID_PARAMETER_VALUE", "The language field is required to import a SOURCE notebook."
            )
        language = check_language(language)
        return path, "NOTEBOOK", language, _with_header(language, data)
    if fmt == "AUTO":
        if path.endswith(".ipynb"):
            language, source = _from_jupyter(data)
            return path[: -len(".ipynb")], "NOTEBOOK", language, source
        target, object_type, detected = classify_upload(path, data)
        return target, object_type, detected, data
    if fmt == "JUPYTER":
        language, source = _from_jupyter(data)
        return path, "NOTEBOOK", language, source
    if fmt == "RAW":
        return path, "FILE", None, data
    raise WorkspaceError(
        400, "INVALID_PARAMETER_VALUE", f"Import format {fmt} is not supported by the emulator."
    )


def _cells(language: str, source: bytes) -> list[str]:
    text = source.decode("utf-8", errors="replace")
    header = NOTEBOOK_HEADERS[language]
    if text.startswith(header):
        text = text[len(header) :].lstrip("\n")
    return [cell.strip("\n") for cell in text.split(f"\n{CELL_SEPARATORS[language]}\n")]


def _to_jupyter(path: str, language: str, source: bytes) -> bytes:
    cells = [
        {
            "cell_type": "code",
            "execution_count": None,
            "metadata": {},
            "outputs": [],
            "source": cell.splitlines(True),
        }
        for cell in _cells(language, source)
    ]
    notebook = {
        "cells": cells,
        "metadata": {
            "application/vnd.databricks.v1+notebook": {
                "language": language.lower(),
                "notebookName": path.rsplit("/", 1)[-1],
            },
            "language_info": {"name": language.lower()},
        },
        "nbformat": 4,
        "nbformat_minor": 0,
    }
    return json.dumps(notebook, indent=1).encode()


def _from_jupyter(data: bytes) -> tuple[str, bytes]:
    try:
        notebook = json.loads(data)
        meta = notebook.get("metadata", {}).get("application/vnd.databricks.v1+notebook", {})
        language = str(meta.get("language", "python")).upper()
        cells = ["".join(c.get("source", [])) for c in notebook["cells"]]
    except (ValueError, KeyError, AttributeError, TypeError) as exc:
        raise WorkspaceError(
            400, "INVALID_PARAMETER_VALUE", "Content is not a valid Jupyter notebook."
        ) from exc
    language = language if language in NOTEBOOK_HEADERS else "PYTHON"
    body = f"\n\n{CELL_SEPARATORS[language]}\n\n".join(cells)
    return language, f"{NOTEBOOK_HEADERS[language]}\n{body}".encode()


def _to_html(path: str, source: bytes) -> bytes:
    text = html.escape(source.decode("utf-8", errors="replace"))
    page = (
        f"<!DOCTYPE html><html><head><title>{html.escape(path)}</title></head><body><pre>{text}</pre></body>"
    )
    return (page + "</html>").encode()


def _zip_directory(root: str, subtree: list[Node], with_files: bool) -> bytes:
    """A folder as the public API documents it: a zip of its notebooks' sources (named by their path
    below the folder plus their language's extension) and, with ``AUTO``, its workspace files. The
    10 MB export limit applies to the whole response, so one object over it fails the folder."""
    buffer = io.BytesIO()
    types = CONTENT_TYPES if with_files else ("NOTEBOOK",)
    # Deflate at level 1: the emulator's CPU shares the machine with the client it serves.
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for node in subtree:
            if node.object_type not in types:
                continue
            if node.size > MAX_EXPORT_BYTES:
                raise WorkspaceError(400, "MAX_NOTEBOOK_SIZE_EXCEEDED", size_message(node.size))
            name = node.path[len(root) :].lstrip("/")
            if node.object_type == "NOTEBOOK":
                name += "." + FILE_TYPES[node.language or "PYTHON"]
            archive.writestr(name, node.read())
    if buffer.tell() > MAX_EXPORT_BYTES:
        raise WorkspaceError(400, "MAX_NOTEBOOK_SIZE_EXCEEDED", size_message(buffer.tell()))
    return buffer.getvalue()


def _with_header(language: str, data: bytes) -> bytes:
    header = NOTEBOOK_HEADERS[language].encode()
    return data if data.startswith(header) else header + b"\n" + data
