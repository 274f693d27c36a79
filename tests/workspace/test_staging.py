from __future__ import annotations

import pytest

from airflow_gitsync.blob import git_blob_id
from airflow_gitsync.staging import StagingCorruptError, StagingMissingError, StagingStore


@pytest.fixture
def store(tmp_path):
    return StagingStore(tmp_path)


def test_put_is_content_addressed_and_idempotent(store, tmp_path):
    blob_id = store.put(b"# Databricks notebook source\nprint(1)\n")
    assert blob_id == git_blob_id(b"# Databricks notebook source\nprint(1)\n")
    path = tmp_path / "blobs" / blob_id[:2] / blob_id[2:]
    mtime = path.stat().st_mtime_ns
    assert store.put(b"# Databricks notebook source\nprint(1)\n") == blob_id
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


def test_corrupt_object_of_same_size_fails_verification(store, tmp_path):
    blob_id = store.put(b"abc")
    (tmp_path / "blobs" / blob_id[:2] / blob_id[2:]).write_bytes(b"abd")
    with pytest.raises(StagingCorruptError):
        store.get(blob_id)


def test_missing_blob(store):
    blob_id = git_blob_id(b"never stored")
    assert blob_id not in store
    with pytest.raises(StagingMissingError, match=blob_id):
        store.get(blob_id)


@pytest.mark.parametrize("bad", ["", "../../etc/passwd", "A" * 40, "0" * 39])
def test_bad_blob_ids_are_refused(store, bad):
    with pytest.raises(ValueError, match="not a git blob id"):
        store.get(bad)


def test_object_storage_path_root(tmp_path):
    from airflow.sdk import ObjectStoragePath

    store = StagingStore(ObjectStoragePath(f"file://{tmp_path}/staging"))
    blob_id = store.put(b"via object storage")
    assert store.get(blob_id) == b"via object storage"
    assert (tmp_path / "staging" / "blobs" / blob_id[:2] / blob_id[2:]).read_bytes() == b"via object storage"
