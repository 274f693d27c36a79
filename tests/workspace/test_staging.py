from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_gitsync.blob import git_blob_id
from airflow_gitsync.git.packs import PackWriter
from airflow_gitsync.staging import StagingCorruptError, StagingMissingError, StagingStore
from gitsync_devkit.cluster import CONTAINER, STAGING_CONN_ID, MissingTool, azurite

# One Azurite for the module: its tests stay on one pytest-xdist worker (`make test` runs two).
pytestmark = pytest.mark.xdist_group("azurite")


@pytest.fixture(params=["path", "file://"])
def store(request, tmp_path):
    """A store whose objects lie under ``tmp_path``: a plain path, or a ``file://`` object storage root."""
    return StagingStore(tmp_path if request.param == "path" else ObjectStoragePath(f"file://{tmp_path}"))


def test_put_is_content_addressed_and_idempotent(store, tmp_path):
    blob_id = store.put(b"# Databricks notebook source\nprint(1)\n")
    assert blob_id == git_blob_id(b"# Databricks notebook source\nprint(1)\n")
    path = tmp_path / "blobs" / blob_id
    os.utime(path, (1_000_000, 1_000_000))  # staged long ago
    assert store.put(b"# Databricks notebook source\nprint(1)\n") == blob_id
    # Staged again, it is young again (a local store sets its time, an object store rewrites it), so
    # another DAG's retention sweep does not remove what a run in flight just re-staged.
    assert path.stat().st_mtime > 1_000_000
    assert store.get(blob_id) == b"# Databricks notebook source\nprint(1)\n"


def test_empty_content(store):
    assert store.get(store.put(b"")) == b""


def test_truncated_object_is_rewritten_by_put(store, tmp_path):
    blob_id = store.put(b"full content")
    path = tmp_path / "blobs" / blob_id
    path.write_bytes(b"full")
    with pytest.raises(StagingCorruptError, match=blob_id):
        store.get(blob_id)
    assert store.put(b"full content") == blob_id
    assert store.get(blob_id) == b"full content"


def test_corrupt_object_of_same_size_is_rewritten_by_put(store, tmp_path):
    blob_id = store.put(b"abc")
    (tmp_path / "blobs" / blob_id).write_bytes(b"abd")
    assert store.put(b"abc") == blob_id
    assert store.get(blob_id) == b"abc"


def test_a_corrupt_object_is_removed_when_read_so_the_next_put_heals_it(store, tmp_path):
    blob_id = store.put(b"abc")
    (tmp_path / "blobs" / blob_id).write_bytes(b"abd")
    with pytest.raises(StagingCorruptError, match=f"blob {blob_id} .*removed.*again"):
        store.get(blob_id)
    assert not (tmp_path / "blobs" / blob_id).exists()
    with pytest.raises(StagingMissingError):
        store.get(blob_id)
    store.put(b"abc")
    assert store.get(blob_id) == b"abc"


def test_missing_blob(store):
    blob_id = git_blob_id(b"never stored")
    with pytest.raises(StagingMissingError, match=blob_id):
        store.get(blob_id)


@pytest.mark.parametrize("bad", ["", "../../etc/passwd", "A" * 40, "0" * 39])
def test_bad_blob_ids_are_refused(store, bad):
    with pytest.raises(ValueError, match="not a git blob id"):
        store.get(bad)


def _pack(*contents: bytes) -> bytes:
    with PackWriter() as pack:
        for content in contents:
            pack.put(content)
        return pack.finish()


def test_a_pack_is_named_by_its_checksum_staged_idempotently_and_read_verified(store, tmp_path):
    data = _pack(b"a notebook", b"another")
    name = store.put_pack(data)
    assert name == data[-20:].hex() and store.get_pack(name, "hint") == data
    path = tmp_path / "packs" / f"{name}.pack"
    os.utime(path, (1_000_000, 1_000_000))
    assert store.put_pack(data) == name and path.stat().st_mtime > 1_000_000  # a retry: young again
    path.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    with pytest.raises(StagingCorruptError, match=f"pack {name} is corrupt.*removed; clear export"):
        store.get_pack(name, "clear export[x] with downstream")
    with pytest.raises(StagingMissingError, match=f"no pack {name}.*; clear export"):
        store.get_pack(name, "clear export[x] with downstream")
    with pytest.raises(ValueError, match="not a git pack"):
        store.put_pack(b"PACK but truncated")
    with pytest.raises(ValueError, match="not a pack name"):
        store.get_pack("../../etc/passwd", "hint")


@pytest.fixture(scope="module")
def azure_store(tmp_path_factory) -> Iterator[ObjectStoragePath]:
    """A folder in Azurite (Azure Blob Storage's emulator), through the ``abfs://`` object storage the
    tasks use on a deployment."""
    try:
        with azurite(tmp_path_factory.mktemp("azurite")) as connection, pytest.MonkeyPatch.context() as env:
            env.setenv(
                f"AIRFLOW_CONN_{STAGING_CONN_ID.upper()}",
                json.dumps({"conn_type": "wasb", "extra": {"connection_string": connection}}),
            )
            yield ObjectStoragePath(f"abfs://{CONTAINER}/staging", conn_id=STAGING_CONN_ID)
    except MissingTool as exc:
        pytest.fail(str(exc), pytrace=False)


def test_on_azure_blob_storage_a_put_and_a_get_are_one_request_each(azure_store):
    """Through the Azure SDK a put is one upload and a get one download (through a file object they
    took five and two: at 70,000 notebooks the shared store's requests are the bound); the
    guarantees are those of a local store."""
    store = StagingStore(azure_store)
    requests: list[str] = []

    class Count(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            requests.extend(line for line in record.getMessage().splitlines() if "Request URL" in line)

    blob_id = store.put(b"warm up the client")
    azure = logging.getLogger("azure.core.pipeline.policies.http_logging_policy")
    level, propagate, counter = azure.level, azure.propagate, Count()
    azure.setLevel(logging.INFO)  # each request is logged at INFO: counted here
    azure.propagate = False
    azure.addHandler(counter)
    try:
        for content in (b"first", b"second", b"first"):
            requests.clear()
            blob_id = store.put(content)
            assert len(requests) == 1, requests
        requests.clear()
        assert store.get(blob_id) == b"first"
        assert len(requests) == 1, requests
    finally:
        azure.removeHandler(counter)
        azure.setLevel(level)
        azure.propagate = propagate

    missing = git_blob_id(b"never staged")
    with pytest.raises(StagingMissingError, match=missing):
        store.get(missing)
    path = store.root / "blobs" / blob_id
    path.write_bytes(b"tampered")
    with pytest.raises(StagingCorruptError, match=blob_id):
        store.get(blob_id)
    assert not path.exists()
    assert store.get(store.put(b"first")) == b"first"
    data = _pack(b"first", b"second")
    requests.clear()
    azure.setLevel(logging.INFO)
    azure.propagate = False
    azure.addHandler(counter)
    try:
        name = store.put_pack(data)
        assert store.get_pack(name, "hint") == data
        assert len(requests) == 2, requests  # one upload, one download
    finally:
        azure.removeHandler(counter)
        azure.setLevel(level)
        azure.propagate = propagate
