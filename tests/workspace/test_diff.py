from __future__ import annotations

import json
from dataclasses import replace

import pytest

from airflow_gitsync.blob import git_blob_id
from airflow_gitsync.diff import EngagementChanges, ItemFailure, ListedObject, diff_engagement
from airflow_gitsync.manifest import ManifestEntry
from airflow_gitsync.results import from_xcom, to_xcom

PART = "2024/ENG-101"


def obj(name, mtime=1000, object_id=1, language="PYTHON", object_type="NOTEBOOK", repo_name=None):
    repo_name = repo_name or (name + ".py" if object_type == "NOTEBOOK" else name)
    return ListedObject(
        f"/Clients/{PART}/NOTEBOOKS/{name}",
        f"{PART}/NOTEBOOKS/{repo_name}",
        object_id,
        object_type,
        language,
        mtime,
    )


def entry(o: ListedObject, content=b"x", **changes) -> ManifestEntry:
    e = o.manifest_entry(git_blob_id(content))
    return ManifestEntry(**{**{f: getattr(e, f) for f in e.__slots__}, **changes})


def manifest_of(*entries):
    return {e.repo_path: e for e in entries}


def test_added_modified_unchanged_deleted():
    same, changed, gone, new = obj("same"), obj("changed", 2000), obj("gone"), obj("new")
    manifest = manifest_of(entry(same), entry(changed, modified_at=1000), entry(gone))
    changes = diff_engagement(PART, [same, changed, new], manifest)
    assert [(o.repo_path, o.reason) for o in changes.to_export] == [
        (changed.repo_path, "modified"),
        (new.repo_path, "added"),
    ]
    assert changes.to_export[0].previous_blob_id == git_blob_id(b"x")
    assert changes.to_export[1].previous_blob_id is None
    assert changes.deleted == [gone.repo_path]
    assert changes.unchanged == 1
    assert changes.failed == []
    assert changes.has_work


@pytest.mark.parametrize(
    ("listed", "previous", "reason"),
    [
        ({"mtime": None}, {}, "unknown-mtime"),
        ({"mtime": 0}, {}, "unknown-mtime"),
        ({}, {"modified_at": None}, "unknown-mtime"),
        ({"object_id": 2}, {}, "modified"),
        ({"language": "SQL"}, {"language": "PYTHON"}, "modified"),
    ],
)
def test_reasons(listed, previous, reason):
    listed_obj = obj("nb", **listed)
    manifest = manifest_of(entry(obj("nb"), **previous))
    if listed_obj.repo_path not in manifest:  # a language change moves the repo path; keep it fixed here
        listed_obj = replace(listed_obj, repo_path=obj("nb").repo_path)
    (exported,) = diff_engagement(PART, [listed_obj], manifest).to_export
    assert exported.reason == reason


def test_full_scan_exports_everything_and_compares_blobs():
    a, b = obj("a"), obj("b")
    changes = diff_engagement(PART, [a, b], manifest_of(entry(a)), full_scan=True)
    assert [o.reason for o in changes.to_export] == ["full-scan", "added"]
    assert changes.to_export[0].previous_blob_id == git_blob_id(b"x")
    assert changes.unchanged == 0


def test_failed_listing_deletes_nothing():
    a = obj("a")
    failure = ItemFailure(f"/Clients/{PART}/NOTEBOOKS", "listing failed: HTTP 500")
    changes = diff_engagement(PART, [], manifest_of(entry(a)), failures=[failure], listing_failed=True)
    assert changes.deleted == [] and changes.to_export == [] and changes.failed == [failure]
    assert changes.has_work


def test_unsafe_items_are_reported_and_the_rest_proceeds():
    a = obj("a")
    failure = ItemFailure(f"/Clients/{PART}/NOTEBOOKS/.git", "unsafe path")
    changes = diff_engagement(PART, [a], {}, failures=[failure])
    assert changes.failed == [failure]
    assert [o.repo_path for o in changes.to_export] == [a.repo_path]


def test_notebook_colliding_with_file_is_reported_not_overwritten_nor_deleted():
    notebook = obj("etl", object_id=1)
    file = obj("etl.py", object_type="FILE", language=None, object_id=2)
    assert notebook.repo_path == file.repo_path
    changes = diff_engagement(PART, [notebook, file], manifest_of(entry(file)))
    assert changes.to_export == [] and changes.deleted == []
    assert sorted(f.path for f in changes.failed) == sorted([notebook.workspace_path, file.workspace_path])
    assert all("shared by" in f.reason for f in changes.failed)


def test_nothing_to_do():
    a = obj("a")
    changes = diff_engagement(PART, [a], manifest_of(entry(a)))
    assert not changes.has_work and changes.unchanged == 1


def test_manifest_slice_must_match_partition():
    other = ListedObject("/Clients/2023/X/NOTEBOOKS/a", "2023/X/NOTEBOOKS/a.py", 1, "NOTEBOOK", "PYTHON", 1)
    with pytest.raises(ValueError, match="other paths"):
        diff_engagement(PART, [], manifest_of(entry(other)))


def test_root_and_year_partitions():
    root_obj = ListedObject("/Clients/x.py", "x.py", 1, "FILE", None, 5)
    assert diff_engagement("", [root_obj], {}).to_export[0].reason == "added"
    year_obj = ListedObject("/Clients/2024/y", "2024/y.py", 1, "NOTEBOOK", "PYTHON", 5)
    assert diff_engagement("2024", [], manifest_of(entry(year_obj))).deleted == ["2024/y.py"]


def test_xcom_round_trip():
    a, b = obj("a"), obj("b")
    changes = diff_engagement(
        PART, [a, b], manifest_of(entry(a, modified_at=1)), failures=[ItemFailure("/p", "why")]
    )
    data = json.loads(json.dumps(to_xcom(changes)))
    assert from_xcom(EngagementChanges, data) == changes
