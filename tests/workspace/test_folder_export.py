"""Folder exports against the emulator: one call, bytes identical to per-object exports, and a
fallback for everything the zip cannot vouch for."""

from __future__ import annotations

import io
import zipfile

import pytest

from airflow_gitsync.diff import FolderRule
from airflow_gitsync.staging import StagingStore
from airflow_gitsync.workspace.client import WorkspaceClient
from airflow_gitsync.workspace.export import export_engagement
from airflow_gitsync.workspace.scan import scan_year

ROOT = "/Clients"
ENG = f"{ROOT}/2024/ENG-1"
SOURCES = {
    "PYTHON": b"# Databricks notebook source\nprint(1)\n",
    "SQL": b"-- Databricks notebook source\nSELECT 1\n",
    "SCALA": b"// Databricks notebook source\nval x = 1\n",
    "R": b"# Databricks notebook source\nx <- 1\n",
}
FAST = {"export": 2000, "list": 2000, "other": 2000}


@pytest.fixture
def staging(tmp_path):
    return StagingStore(tmp_path / "staging")


@pytest.fixture
def emu(emulator_factory):
    emu = emulator_factory(generate=0)
    for language, source in SOURCES.items():
        emu.put_notebook(f"{ENG}/NOTEBOOKS/{language.lower()} nb", source, language=language)
    emu.put_file(f"{ENG}/NOTEBOOKS/data.csv", b"a,b\n1,2\n")
    emu.put_file(f"{ENG}/NOTEBOOKS/deep/er/notes.txt", b"deep\n")
    emu.put_notebook(f"{ENG}/ünï code/été", SOURCES["PYTHON"])
    return emu


class Client(WorkspaceClient):
    """The real client; ``rewrite`` may change the folder zip on its way in (an unexpected layout)."""

    rewrite = None

    def export(self, path, format="SOURCE", direct_download=True):
        data = super().export(path, format, direct_download)
        return self.rewrite(data) if format == "AUTO" and self.rewrite else data


def _engagement(client):
    (changes,) = scan_year(client, ROOT, "2024", {})[0].engagements
    return changes


def _rezip(data: bytes, rename) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for name in src.namelist():
            dst.writestr(rename(name), src.read(name))
    return out.getvalue()


def test_one_call_and_the_same_bytes_as_per_object_exports(emu, staging):
    with Client(emu.url, lambda: "dapi-test", rates=FAST) as client:
        changes = _engagement(client)
        emu.reset_counters()
        result = export_engagement(client, changes, staging, folder_rule=FolderRule(2, 0))
        assert emu.counters()["export"]["requests"] == 1
        assert result.folder_export and result.fallback is None and result.failed == []
        assert len(result.upserts) == len(changes.to_export) == 7
        for entry in result.upserts:  # every language and the workspace files, byte for byte
            assert staging.get(entry.blob_id) == client.export(entry.workspace_path)


def test_entries_under_the_folders_own_name_are_matched(emu, staging):
    with Client(emu.url, lambda: "dapi-test", rates=FAST) as client:
        client.rewrite = lambda data: _rezip(data, lambda name: "ENG-1/" + name)
        result = export_engagement(client, _engagement(client), staging, folder_rule=FolderRule(2, 0))
    assert result.fallback is None and len(result.upserts) == 7


def test_an_unexpected_layout_falls_back_per_object_with_the_reason(emu, staging):
    with Client(emu.url, lambda: "dapi-test", rates=FAST) as client:
        client.rewrite = lambda data: _rezip(data, lambda name: name.replace(".py", ".ipynb"))
        emu.reset_counters()
        result = export_engagement(client, _engagement(client), staging, folder_rule=FolderRule(2, 0))
        assert result.fallback == "zip entries missing: 2"
        assert emu.counters()["export"]["requests"] == 1 + 2
        for entry in result.upserts:
            assert staging.get(entry.blob_id) == client.export(entry.workspace_path)
        client.rewrite = lambda data: _rezip(data, lambda name: name)[:100]  # not a zip
        result = export_engagement(client, _engagement(client), staging, folder_rule=FolderRule(2, 0))
        assert result.fallback.startswith("the folder export failed") and len(result.upserts) == 7


def test_an_extra_or_missing_entry_is_not_trusted(emu, staging):
    with Client(emu.url, lambda: "dapi-test", rates=FAST) as client:
        changes = _engagement(client)
        emu.put_notebook(f"{ENG}/NOTEBOOKS/late", SOURCES["PYTHON"])  # appears after the listing
        result = export_engagement(client, changes, staging, folder_rule=FolderRule(2, 0))
    assert result.fallback == "the zip holds 8 entries where the listing has 7"
    assert len(result.upserts) == 7


def test_a_name_collision_is_reported_and_the_rest_comes_from_the_zip(emu, staging):
    emu.put_notebook(f"{ENG}/NOTEBOOKS/etl", SOURCES["PYTHON"])
    emu.put_file(f"{ENG}/NOTEBOOKS/etl.py", b"print('a file')\n")
    with Client(emu.url, lambda: "dapi-test", rates=FAST) as client:
        changes = _engagement(client)
        emu.reset_counters()
        result = export_engagement(client, changes, staging, folder_rule=FolderRule(2, 0))
        assert emu.counters()["export"]["requests"] == 1
    assert result.fallback is None and len(result.upserts) == 7
    assert sorted(f.path for f in result.failed) == [f"{ENG}/NOTEBOOKS/etl", f"{ENG}/NOTEBOOKS/etl.py"]


def test_a_folder_over_10_mb_falls_back_and_reports_only_the_big_notebook(emu, staging):
    emu.put_notebook(f"{ENG}/NOTEBOOKS/huge", SOURCES["PYTHON"] + b"#" * 10_485_761)
    with Client(emu.url, lambda: "dapi-test", rates=FAST) as client:
        result = export_engagement(client, _engagement(client), staging, folder_rule=FolderRule(2, 0))
    assert result.fallback == "the folder is over the 10 MB export limit"
    assert len(result.upserts) == 7
    ((path, reason),) = [(f.path, f.reason) for f in result.failed]
    assert path == f"{ENG}/NOTEBOOKS/huge" and "MAX_NOTEBOOK_SIZE_EXCEEDED" in reason


def test_below_the_threshold_every_object_is_its_own_call(emu, staging):
    with Client(emu.url, lambda: "dapi-test", rates=FAST) as client:
        changes = _engagement(client)
        emu.reset_counters()
        result = export_engagement(client, changes, staging, folder_rule=FolderRule(8, 0))
        assert emu.counters()["export"]["requests"] == 7 and not result.folder_export
