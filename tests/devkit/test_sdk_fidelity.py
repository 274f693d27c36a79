"""The official databricks-sdk WorkspaceClient, unchanged, against the emulator: if they disagree, the
emulator is wrong."""

from __future__ import annotations

import base64
import io
import json
import time
import zipfile
from collections.abc import Callable

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.config import Config
from databricks.sdk.errors import (
    BadRequest,
    InternalError,
    NotFound,
    PermissionDenied,
    RequestLimitExceeded,
    ResourceAlreadyExists,
    ResourceDoesNotExist,
    TooManyRequests,
)
from databricks.sdk.service.workspace import ExportFormat, ImportFormat, Language, ObjectType

from gitsync_devkit.emulator import WorkspaceEmulator
from gitsync_devkit.workspace_generator import MAX_EXPORT_BYTES

HEADERS = {
    Language.PYTHON: b"# Databricks notebook source\n",
    Language.SQL: b"-- Databricks notebook source\n",
    Language.SCALA: b"// Databricks notebook source\n",
    Language.R: b"# Databricks notebook source\n",
}
FILE_TYPES = {Language.PYTHON: "py", Language.SQL: "sql", Language.SCALA: "scala", Language.R: "r"}


def client(
    emu: WorkspaceEmulator, token: str = "dapi-test", retry_timeout_seconds: int = 30
) -> WorkspaceClient:
    config = Config(host=emu.url, token=token, auth_type="pat", retry_timeout_seconds=retry_timeout_seconds)
    return WorkspaceClient(config=config)


@pytest.fixture
def w(emulator: WorkspaceEmulator) -> WorkspaceClient:
    return client(emulator)


def put_sources(emu: WorkspaceEmulator) -> dict[Language, str]:
    paths = {}
    for language, header in HEADERS.items():
        path = f"/Clients/2024/ENG-X/NOTEBOOKS/{language.value.lower()} notebook"
        emu.put_notebook(path, header + b"1 + 1\n", language=language.value)
        paths[language] = path
    return paths


def test_recursive_list_finds_every_object_the_emulator_holds(
    w: WorkspaceClient, emulator: WorkspaceEmulator
):
    listed = {o.path: o for o in w.workspace.list("/Clients", recursive=True)}
    expected = {o["path"] for o in emulator.objects() if o["object_type"] != "DIRECTORY"}
    assert set(listed) == expected
    assert sum(o.object_type == ObjectType.NOTEBOOK for o in listed.values()) == 60
    assert {ObjectType.LIBRARY, ObjectType.DASHBOARD} <= {o.object_type for o in listed.values()}
    notebook = next(o for o in listed.values() if o.object_type == ObjectType.NOTEBOOK)
    assert notebook.language in HEADERS
    assert notebook.object_id and notebook.created_at and notebook.modified_at and notebook.size


def test_list_of_empty_directory_and_notebooks_modified_after(
    w: WorkspaceClient, emulator: WorkspaceEmulator
):
    w.workspace.mkdirs("/Clients/2025/empty")
    assert list(w.workspace.list("/Clients/2025/empty")) == []
    emulator.put_notebook("/Clients/2025/fresh", b"# Databricks notebook source\nx = 1\n")
    fresh = w.workspace.get_status("/Clients/2025/fresh")
    recent = list(
        w.workspace.list("/Clients", recursive=True, notebooks_modified_after=fresh.modified_at - 1)
    )
    assert [o.path for o in recent if o.object_type == ObjectType.NOTEBOOK] == ["/Clients/2025/fresh"]


def test_get_status_and_not_found(w: WorkspaceClient, emulator: WorkspaceEmulator):
    emulator.put_notebook("/Clients/2024/a/nb", b"# Databricks notebook source\nx = 1\n")
    info = w.workspace.get_status("/Clients/2024/a/nb")
    assert (info.object_type, info.language, info.path) == (
        ObjectType.NOTEBOOK,
        Language.PYTHON,
        "/Clients/2024/a/nb",
    )
    assert w.workspace.get_status("/Clients/2024/a").object_type == ObjectType.DIRECTORY
    with pytest.raises(ResourceDoesNotExist, match=r"Path \(/Clients/nope\) doesn't exist"):
        w.workspace.get_status("/Clients/nope")
    with pytest.raises(NotFound):
        list(w.workspace.list("/Clients/nope"))


def test_export_source_has_the_right_header_and_file_type_for_all_four_languages(
    w: WorkspaceClient, emulator: WorkspaceEmulator
):
    for language, path in put_sources(emulator).items():
        exported = w.workspace.export(path, format=ExportFormat.SOURCE)
        assert exported.file_type == FILE_TYPES[language]
        assert base64.b64decode(exported.content) == HEADERS[language] + b"1 + 1\n"
        assert w.workspace.export(path).content == exported.content  # SOURCE is the default


def test_export_of_a_folder_is_a_zip_of_sources_and_files_with_auto(
    w: WorkspaceClient, emulator: WorkspaceEmulator
):
    paths = put_sources(emulator)
    emulator.put_file("/Clients/2024/ENG-X/NOTEBOOKS/data.csv", b"a,b\n")
    exported = w.workspace.export("/Clients/2024/ENG-X", format=ExportFormat.AUTO)
    with zipfile.ZipFile(io.BytesIO(base64.b64decode(exported.content))) as archive:
        entries = {name: archive.read(name) for name in archive.namelist()}
    expected = {
        f"NOTEBOOKS/{path.rsplit('/', 1)[1]}.{FILE_TYPES[language]}": w.workspace.download(path).read()
        for language, path in paths.items()
    }
    assert entries == expected | {"NOTEBOOKS/data.csv": b"a,b\n"}
    source = w.workspace.export("/Clients/2024/ENG-X", format=ExportFormat.SOURCE)
    with zipfile.ZipFile(io.BytesIO(base64.b64decode(source.content))) as archive:
        assert sorted(archive.namelist()) == sorted(expected)


def test_export_generated_notebooks_matches_snapshot(w: WorkspaceClient, emulator: WorkspaceEmulator):
    snapshot = emulator.snapshot("/Clients")
    small = [o["path"] for o in emulator.objects() if o["object_type"] == "NOTEBOOK" and o["size"] < 100_000]
    for path in small[:10]:
        assert base64.b64decode(w.workspace.export(path).content) == snapshot[path]
        assert w.workspace.download(path).read() == snapshot[path]


def test_export_jupyter(w: WorkspaceClient, emulator: WorkspaceEmulator):
    source = b"# Databricks notebook source\nx = 1\n\n# COMMAND ----------\n\nprint(x)\n"
    emulator.put_notebook("/Clients/2024/j/nb", source)
    exported = w.workspace.export("/Clients/2024/j/nb", format=ExportFormat.JUPYTER)
    notebook = json.loads(base64.b64decode(exported.content))
    assert exported.file_type == "ipynb"
    assert notebook["nbformat"] == 4
    assert ["".join(c["source"]) for c in notebook["cells"]] == ["x = 1", "print(x)"]
    downloaded = json.loads(w.workspace.download("/Clients/2024/j/nb", format=ExportFormat.JUPYTER).read())
    assert downloaded == notebook


def test_download_of_a_workspace_file_is_raw(w: WorkspaceClient, emulator: WorkspaceEmulator):
    emulator.put_file("/Clients/2024/f/data.csv", b"a,b\n1,2\n")
    assert w.workspace.download("/Clients/2024/f/data.csv").read() == b"a,b\n1,2\n"
    assert w.workspace.export("/Clients/2024/f/data.csv").file_type == "csv"
    assert w.workspace.get_status("/Clients/2024/f/data.csv").object_type == ObjectType.FILE


def test_export_over_10_mb_fails_with_max_notebook_size_exceeded(
    w: WorkspaceClient, emulator: WorkspaceEmulator
):
    too_big = next(o for o in emulator.objects() if o.get("size", 0) > MAX_EXPORT_BYTES)
    with pytest.raises(BadRequest) as caught:
        w.workspace.export(too_big["path"])
    assert caught.value.error_code == "MAX_NOTEBOOK_SIZE_EXCEEDED"
    with pytest.raises(BadRequest, match="exceeded max size"):
        w.workspace.download(too_big["path"])


def test_upload_auto_makes_a_notebook_without_extension_or_a_file(
    w: WorkspaceClient, emulator: WorkspaceEmulator
):
    w.workspace.mkdirs("/Clients/up")
    w.workspace.upload(
        "/Clients/up/job.py", b"# Databricks notebook source\nprint(1)\n", format=ImportFormat.AUTO
    )
    w.workspace.upload("/Clients/up/notes.txt", io.BytesIO(b"plain text"), format=ImportFormat.AUTO)
    assert w.workspace.get_status("/Clients/up/job").language == Language.PYTHON
    assert w.workspace.get_status("/Clients/up/notes.txt").object_type == ObjectType.FILE
    assert emulator.snapshot("/Clients/up") == {
        "/Clients/up/job": b"# Databricks notebook source\nprint(1)\n",
        "/Clients/up/notes.txt": b"plain text",
    }


def test_upload_source_with_language_overwrite_and_already_exists(
    w: WorkspaceClient, emulator: WorkspaceEmulator
):
    w.workspace.mkdirs("/Clients/up")
    w.workspace.upload("/Clients/up/q", b"SELECT 1", format=ImportFormat.SOURCE, language=Language.SQL)
    first = w.workspace.get_status("/Clients/up/q")
    assert w.workspace.download("/Clients/up/q").read() == b"-- Databricks notebook source\nSELECT 1"
    with pytest.raises(ResourceAlreadyExists):
        w.workspace.upload("/Clients/up/q", b"SELECT 2", format=ImportFormat.SOURCE, language=Language.SQL)
    w.workspace.upload(
        "/Clients/up/q", b"SELECT 2", format=ImportFormat.SOURCE, language=Language.SQL, overwrite=True
    )
    second = w.workspace.get_status("/Clients/up/q")
    assert second.object_id == first.object_id and second.modified_at > first.modified_at
    assert w.workspace.download("/Clients/up/q").read().endswith(b"SELECT 2")


def test_import_base64_json_and_missing_parent(w: WorkspaceClient, emulator: WorkspaceEmulator):
    content = base64.b64encode(b"// Databricks notebook source\nval x = 1\n").decode()
    w.workspace.mkdirs("/Clients/imp")
    w.workspace.import_(
        "/Clients/imp/s", content=content, format=ImportFormat.SOURCE, language=Language.SCALA
    )
    assert emulator.snapshot("/Clients/imp") == {
        "/Clients/imp/s": b"// Databricks notebook source\nval x = 1\n"
    }
    assert w.workspace.export("/Clients/imp/s").file_type == "scala"
    with pytest.raises(ResourceAlreadyExists):
        w.workspace.import_(
            "/Clients/imp/s", content=content, format=ImportFormat.SOURCE, language=Language.SCALA
        )
    with pytest.raises(NotFound, match="parent folder"):
        w.workspace.import_(
            "/Clients/none/s", content=content, format=ImportFormat.SOURCE, language=Language.SCALA
        )


def test_delete_file_directory_not_empty_and_recursive(w: WorkspaceClient, emulator: WorkspaceEmulator):
    emulator.put_notebook("/Clients/d/sub/nb", b"# Databricks notebook source\n")
    with pytest.raises(BadRequest) as caught:
        w.workspace.delete("/Clients/d")
    assert caught.value.error_code == "DIRECTORY_NOT_EMPTY"
    w.workspace.delete("/Clients/d/sub/nb")
    with pytest.raises(NotFound):
        w.workspace.get_status("/Clients/d/sub/nb")
    emulator.put_notebook("/Clients/d/sub/nb2", b"# Databricks notebook source\n")
    w.workspace.delete("/Clients/d", recursive=True)
    assert not any(
        o["path"].startswith("/Clients/d/") or o["path"] == "/Clients/d" for o in emulator.objects()
    )
    with pytest.raises(ResourceDoesNotExist):
        w.workspace.delete("/Clients/d")


def test_mkdirs_creates_parents_and_refuses_to_cross_a_notebook(
    w: WorkspaceClient, emulator: WorkspaceEmulator
):
    w.workspace.mkdirs("/Clients/m/a/b/c")
    w.workspace.mkdirs("/Clients/m/a/b/c")  # idempotent
    assert w.workspace.get_status("/Clients/m/a/b").object_type == ObjectType.DIRECTORY
    emulator.put_notebook("/Clients/m/nb", b"# Databricks notebook source\n")
    with pytest.raises(ResourceAlreadyExists):
        w.workspace.mkdirs("/Clients/m/nb/inside")


def test_sdk_retries_a_429_after_retry_after_and_succeeds(emulator_factory: Callable[..., WorkspaceEmulator]):
    emu = emulator_factory(generate=0, rates={"list": 1.0})
    emu.mkdirs("/Clients")
    w = client(emu)
    list(w.workspace.list("/Clients"))  # takes the one token in the bucket
    started = time.monotonic()
    assert list(w.workspace.list("/Clients")) == []
    assert time.monotonic() - started >= 1.0  # slept for Retry-After
    counters = emu.counters()["list"]
    assert counters["429"] >= 1 and counters["ok"] == 2


def test_429_and_500_map_to_the_sdk_error_classes(emulator: WorkspaceEmulator, w: WorkspaceClient):
    emulator.inject_failure("/Clients/2023", endpoints=("get-status",), status=500)
    with pytest.raises(InternalError):
        w.workspace.get_status("/Clients/2023")
    emulator.clear_failures()
    emulator.inject_failure(
        "/Clients/2023", endpoints=("get-status",), status=429, error_code="REQUEST_LIMIT_EXCEEDED"
    )
    quick = client(emulator, retry_timeout_seconds=1)
    with pytest.raises(TimeoutError) as caught:
        quick.workspace.get_status("/Clients/2023")
    assert isinstance(caught.value.__cause__, RequestLimitExceeded)
    assert isinstance(caught.value.__cause__, TooManyRequests)


def test_wrong_token_is_permission_denied_and_added_tokens_work(emulator: WorkspaceEmulator):
    with pytest.raises(PermissionDenied, match="Invalid access token"):
        client(emulator, token="dapi-wrong").workspace.get_status("/Clients")
    emulator.add_token("aad-token")
    assert (
        client(emulator, token="aad-token").workspace.get_status("/Clients").object_type
        == ObjectType.DIRECTORY
    )


def test_mutations_are_visible_through_the_sdk(w: WorkspaceClient, emulator: WorkspaceEmulator):
    path = next(
        o["path"] for o in emulator.objects() if o["object_type"] == "NOTEBOOK" and o["size"] < 100_000
    )
    before = w.workspace.get_status(path)
    emulator.modify_notebook(path)
    after = w.workspace.get_status(path)
    assert after.object_id == before.object_id and after.modified_at > before.modified_at
    assert w.workspace.download(path).read() == emulator.snapshot(path)[path]
    emulator.rename(path, path + " renamed")
    assert w.workspace.get_status(path + " renamed").object_id == before.object_id
    with pytest.raises(NotFound):
        w.workspace.get_status(path)
