from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_gitsync.blob import git_blob_id
from airflow_gitsync.staging import StagingCorruptError, StagingMissingError, StagingStore
from gitsync_devkit.cluster import CONTAINER, STAGING_CONN_ID, MissingTool, azurite


@pytest.fixture(params=["path", "file://"])
def store(request, tmp_path):
    """A store whose objects lie under ``tmp_path``: a plain path, or a ``file://`` object storage root."""
    return StagingStore(tmp_path if request.param == "path" else ObjectStoragePath(f"file://{tmp_path}"))


def test_put_is_content_addressed_and_idempotent(store, tmp_path):
    blob_id = store.put(b"# Databricks notebook source\nprint(1)\n")
    assert blob_id == git_blob_id(b"# Databricks notebook source\nprint(1)\n")
    path = tmp_path / "blobs" / blob_id[:2] / blob_id[2:]
    mtime = path.stat().st_mtime_ns
    assert store.put(b"# Databricks notebook source\nprint(1)\n") == blob_id
    if isinstance(store.root, Path):  # left alone (an object store is written whole again: one request)
        assert path.stat().st_mtime_ns == mtime
    assert store.get(blob_id) == b"# Databricks notebook source\nprint(1)\n"
    assert blob_id in store


def test_empty_content(store):
    assert store.get(store.put(b"")) == b""


def test_truncated_object_is_rewritten_by_put(store, tmp_path):
    blob_id = store.put(b"full content")
    path = tmp_path / "blobs" / blob_id[:2] / blob_id[2:]
    path.write_bytes(b"full")
    with pytest.raises(StagingCorruptError, match=blob_id):
        store.get(blob_id)
    assert store.put(b"full content") == blob_id
    assert store.get(blob_id) == b"full content"


def test_corrupt_object_of_same_size_is_rewritten_by_put(store, tmp_path):
    blob_id = store.put(b"abc")
    (tmp_path / "blobs" / blob_id[:2] / blob_id[2:]).write_bytes(b"abd")
    assert store.put(b"abc") == blob_id
    assert store.get(blob_id) == b"abc"


def test_a_corrupt_object_is_removed_when_read_so_the_next_put_heals_it(store, tmp_path):
    blob_id = store.put(b"abc")
    (tmp_path / "blobs" / blob_id[:2] / blob_id[2:]).write_bytes(b"abd")
    with pytest.raises(StagingCorruptError, match=f"blob {blob_id} .*removed.*again"):
        store.get(blob_id)
    assert blob_id not in store
    with pytest.raises(StagingMissingError):
        store.get(blob_id)
    store.put(b"abc")
    assert store.get(blob_id) == b"abc"


def test_missing_blob(store):
    blob_id = git_blob_id(b"never stored")
    assert blob_id not in store
    with pytest.raises(StagingMissingError, match=blob_id):
        store.get(blob_id)


@pytest.mark.parametrize("bad", ["", "../../etc/passwd", "A" * 40, "0" * 39])
def test_bad_blob_ids_are_refused(store, bad):
    with pytest.raises(ValueError, match="not a git blob id"):
        store.get(bad)


def test_get_many_reads_in_order_and_raises_at_the_missing_blobs_turn(store):
    """On an object store reads go ahead of the caller (``file://`` here); the order and the errors
    are those of one ``get`` after another."""
    contents = [f"notebook {i}\n".encode() for i in range(50)]
    ids = [store.put(c) for c in contents]
    assert list(store.get_many(ids + ids[:3])) == contents + contents[:3]
    missing = git_blob_id(b"never staged")
    reads = store.get_many([*ids[:20], missing, *ids[20:]])
    assert [next(reads) for _ in range(20)] == contents[:20]
    with pytest.raises(StagingMissingError, match=missing):
        next(reads)


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
    path = store.root / "blobs" / blob_id[:2] / blob_id[2:]
    path.write_bytes(b"tampered")
    with pytest.raises(StagingCorruptError, match=blob_id):
        store.get(blob_id)
    assert blob_id not in store
    assert store.get(store.put(b"first")) == b"first"
    assert list(store.get_many([blob_id, git_blob_id(b"second")])) == [b"first", b"second"]
