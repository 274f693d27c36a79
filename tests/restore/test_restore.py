"""Restore planning and execution against an in-memory mirror and workspace client."""

from __future__ import annotations

import re
from contextlib import contextmanager

import pytest

from airflow_gitsync.blob import git_blob_id
from airflow_gitsync.errors import AuthError, WorkspaceError
from airflow_gitsync.layout import to_repo_path
from airflow_gitsync.manifest import MANIFEST_PATH, ManifestEntry, dump_manifest
from airflow_gitsync.params import RestoreSettings, SettingsError
from airflow_gitsync.restore import RestoreError, plan_items, plan_restore, restore

ETL = b"# Databricks notebook source\nprint(1)\n"
QUERY = b"-- Databricks notebook source\nSELECT 1\n"
CSV = b"a,b\n1,2\n"


def entry(repo_path: str, content: bytes, object_type: str = "NOTEBOOK", language: str | None = "PYTHON"):
    stem = repo_path.rsplit(".", 1)[0] if object_type == "NOTEBOOK" else repo_path
    return ManifestEntry(
        repo_path=repo_path,
        workspace_path=f"/Clients/{stem}",
        object_id=abs(hash(repo_path)) % 10**6,
        object_type=object_type,
        language=language if object_type == "NOTEBOOK" else None,
        modified_at=1,
        blob_id=git_blob_id(content),
    )


CONTENT = {
    "2024/ENG-101/NOTEBOOKS/etl.py": ETL,
    # a SQL notebook whose name ends in .py: the manifest's language wins over the extension
    "2024/ENG-101/NOTEBOOKS/report.py.sql": QUERY,
    "2024/ENG-101/NOTEBOOKS/data.csv": CSV,
    "2024/ENG-1010/NOTEBOOKS/etl.py": ETL,
}
MANIFEST = {
    "2024/ENG-101/NOTEBOOKS/etl.py": entry("2024/ENG-101/NOTEBOOKS/etl.py", ETL),
    "2024/ENG-101/NOTEBOOKS/report.py.sql": entry(
        "2024/ENG-101/NOTEBOOKS/report.py.sql", QUERY, language="SQL"
    ),
    "2024/ENG-101/NOTEBOOKS/data.csv": entry("2024/ENG-101/NOTEBOOKS/data.csv", CSV, "FILE"),
    "2024/ENG-1010/NOTEBOOKS/etl.py": entry("2024/ENG-1010/NOTEBOOKS/etl.py", ETL),
}


def tree(content: dict[str, bytes] = CONTENT) -> dict[str, str]:
    return {path: git_blob_id(data) for path, data in content.items()} | {MANIFEST_PATH: "0" * 40}


def targets(items) -> dict[str, str]:
    return {item.entry.repo_path: item.target_path for item in items}


class FakeMirror:
    """One backup commit ``c0ffee`` tagged ``backup/2026-11-02``."""

    def __init__(self, content: dict[str, bytes] = CONTENT, manifest=MANIFEST) -> None:
        self.files = dict(content)
        if manifest is not None:
            self.files[MANIFEST_PATH] = dump_manifest(manifest.values())
        self._original = dict(self.files)

    def resolve(self, ref: str) -> str | None:
        return "c0ffee" if ref in ("refs/tags/backup/2026-11-02", "c0ffee") else None

    def tracking(self, branch: str) -> str | None:
        return "c0ffee" if branch == "main" else None

    def ls_tree(self, commit: str) -> dict[str, tuple[str, str]]:
        return {path: ("100644", git_blob_id(data)) for path, data in self.files.items()}

    def read_file(self, commit: str, path: str) -> bytes | None:
        return self.files.get(path)

    def fetch_blobs(self, object_ids, within: str) -> int:
        return 0  # a whole mirror: nothing to fetch

    @contextmanager
    def blob_reader(self):
        """Blobs by the id their path had when the mirror was made: a later change reads as corruption."""
        paths = {git_blob_id(data): path for path, data in self._original.items()}
        yield lambda blob_id: self.files[paths[blob_id]]


class FakeClient:
    """A workspace of ``existing`` paths; records imports; ``errors`` maps a path to what it raises."""

    def __init__(self, existing=(), errors=None) -> None:
        self.existing = set(existing)
        self.errors = errors or {}
        self.folders: list[str] = []
        self.imports: dict[str, tuple[bytes, str | None, str, bool]] = {}

    def map_concurrent(self, fn, items):
        return map(fn, items)

    def mkdirs(self, path: str) -> None:
        if path in self.errors:
            raise self.errors[path]
        self.folders.append(path)

    def import_(self, path, content, language=None, format="SOURCE", overwrite=False) -> None:
        if path in self.errors:
            raise self.errors[path]
        if path in self.existing and not overwrite:
            raise WorkspaceError(
                f"import {path}: exists", path=path, status=400, error_code="RESOURCE_ALREADY_EXISTS"
            )
        self.imports[path] = (content, language, format, overwrite)


def test_original_paths_by_default_and_a_new_root_below_which_repo_paths_are_placed():
    items, failed = plan_items(MANIFEST, tree())
    assert failed == []
    assert targets(items) == {path: MANIFEST[path].workspace_path for path in CONTENT}

    items, _ = plan_items(MANIFEST, tree(), target_root="/Restored/2026-11-02")
    assert targets(items) == {
        "2024/ENG-101/NOTEBOOKS/etl.py": "/Restored/2026-11-02/2024/ENG-101/NOTEBOOKS/etl",
        "2024/ENG-101/NOTEBOOKS/report.py.sql": "/Restored/2026-11-02/2024/ENG-101/NOTEBOOKS/report.py",
        "2024/ENG-101/NOTEBOOKS/data.csv": "/Restored/2026-11-02/2024/ENG-101/NOTEBOOKS/data.csv",
        "2024/ENG-1010/NOTEBOOKS/etl.py": "/Restored/2026-11-02/2024/ENG-1010/NOTEBOOKS/etl",
    }


@pytest.mark.parametrize(
    ("prefixes", "selected"),
    [
        (["2024/ENG-101"], 3),  # a folder, not a string prefix: ENG-1010 stays out
        (["2024/ENG-101/"], 3),
        (["2024/ENG-101/NOTEBOOKS/etl.py"], 1),
        (["2024/ENG-1010", "2024/ENG-101/NOTEBOOKS/data.csv"], 2),
        (["2024"], 4),
    ],
)
def test_prefixes_select_folders_or_files(prefixes, selected):
    items, _ = plan_items(MANIFEST, tree(), prefixes)
    assert len(items) == selected


def test_a_prefix_that_selects_nothing_is_an_error_naming_it():
    with pytest.raises(RestoreError, match=r"select nothing in the backup: 2024/ENG-10$"):
        plan_items(MANIFEST, tree(), ["2024/ENG-101", "2024/ENG-10"])


def test_selected_files_missing_from_the_manifest_are_an_error_naming_them():
    content = CONTENT | {"2024/ENG-101/NOTEBOOKS/stray.py": ETL}
    with pytest.raises(
        RestoreError, match=r"1 files .* not in its manifest.*: 2024/ENG-101/NOTEBOOKS/stray.py"
    ):
        plan_items(MANIFEST, tree(content))
    with pytest.raises(RestoreError, match=r"stray\.py"):
        plan_items(MANIFEST, tree(content), ["2024/ENG-101"])
    # outside the selection: not this restore's concern
    items, _ = plan_items(MANIFEST, tree(content), ["2024/ENG-1010"])
    assert len(items) == 1


def test_entries_whose_blob_is_missing_or_different_fail_with_a_reason():
    content = dict(CONTENT)
    del content["2024/ENG-101/NOTEBOOKS/data.csv"]
    content["2024/ENG-101/NOTEBOOKS/etl.py"] = ETL + b"tampered\n"
    items, failed = plan_items(MANIFEST, tree(content))
    assert sorted(targets(items)) == [
        "2024/ENG-101/NOTEBOOKS/report.py.sql",
        "2024/ENG-1010/NOTEBOOKS/etl.py",
    ]
    reasons = {f.path: f.reason for f in failed}
    assert "not in the backup's tree" in reasons["/Clients/2024/ENG-101/NOTEBOOKS/data.csv"]
    assert "in the manifest" in reasons["/Clients/2024/ENG-101/NOTEBOOKS/etl"]
    assert git_blob_id(ETL) in reasons["/Clients/2024/ENG-101/NOTEBOOKS/etl"]


def test_plan_restore_resolves_tags_branches_and_commits():
    for ref in ("backup/2026-11-02", "main", "c0ffee"):
        plan = plan_restore(FakeMirror(), ref)
        assert (plan.commit, len(plan.items), plan.failed) == ("c0ffee", 4, [])
    with pytest.raises(RestoreError, match="'backup/1999-01-01' is neither a tag, a branch nor a commit"):
        plan_restore(FakeMirror(), "backup/1999-01-01")
    with pytest.raises(RestoreError, match=r"has no \.gitsync/manifest\.jsonl"):
        plan_restore(FakeMirror(manifest=None), "main")


def test_restore_imports_notebooks_in_their_manifest_language_and_files_raw():
    client = FakeClient()
    result = restore(client, FakeMirror(), plan_restore(FakeMirror(), "main", target_root="/R"))
    assert (result.restored, result.failed, result.skipped) == (4, [], 0)
    assert client.folders == ["/R/2024/ENG-101/NOTEBOOKS", "/R/2024/ENG-1010/NOTEBOOKS"]
    assert client.imports == {
        "/R/2024/ENG-101/NOTEBOOKS/etl": (ETL, "PYTHON", "SOURCE", False),
        "/R/2024/ENG-101/NOTEBOOKS/report.py": (QUERY, "SQL", "SOURCE", False),
        "/R/2024/ENG-101/NOTEBOOKS/data.csv": (CSV, None, "RAW", False),
        "/R/2024/ENG-1010/NOTEBOOKS/etl": (ETL, "PYTHON", "SOURCE", False),
    }


def test_existing_objects_fail_without_overwrite_and_are_replaced_with_it():
    existing = {"/Clients/2024/ENG-101/NOTEBOOKS/etl", "/Clients/2024/ENG-101/NOTEBOOKS/data.csv"}
    plan = plan_restore(FakeMirror(), "main", ["2024/ENG-101"])
    client = FakeClient(existing)
    result = restore(client, FakeMirror(), plan)
    assert result.restored == 1
    assert [f.path for f in result.failed] == sorted(existing)
    assert all(f.reason.startswith("RESOURCE_ALREADY_EXISTS") for f in result.failed)
    assert set(client.imports) == {"/Clients/2024/ENG-101/NOTEBOOKS/report.py"}

    client = FakeClient(existing)
    result = restore(client, FakeMirror(), plan, overwrite=True)
    assert (result.restored, result.failed) == (3, [])
    assert all(overwrite for *_, overwrite in client.imports.values())


def test_per_item_errors_are_reported_and_fatal_ones_raise():
    plan = plan_restore(FakeMirror(), "main")
    mirror = FakeMirror()
    mirror.files["2024/ENG-101/NOTEBOOKS/data.csv"] = b"changed after planning"
    client = FakeClient(errors={"/Clients/2024/ENG-1010/NOTEBOOKS": WorkspaceError("mkdirs: HTTP 400 nope")})
    result = restore(client, mirror, plan)
    assert result.restored == 2
    reasons = {f.path: f.reason for f in result.failed}
    assert (
        reasons["/Clients/2024/ENG-1010/NOTEBOOKS/etl"]
        == "folder /Clients/2024/ENG-1010/NOTEBOOKS: mkdirs: HTTP 400 nope"
    )
    assert "do not match blob" in reasons["/Clients/2024/ENG-101/NOTEBOOKS/data.csv"]

    client = FakeClient(errors={"/Clients/2024/ENG-101/NOTEBOOKS/etl": AuthError("refused", status=403)})
    with pytest.raises(AuthError):
        restore(client, FakeMirror(), plan)


def test_dry_run_lists_what_would_be_written_and_writes_nothing():
    client = FakeClient()
    plan = plan_restore(FakeMirror(), "main", ["2024/ENG-1010"], "/R")
    result = restore(client, FakeMirror(), plan, dry_run=True)
    assert (result.restored, result.skipped, result.planned) == (0, 1, ["/R/2024/ENG-1010/NOTEBOOKS/etl"])
    assert (client.folders, client.imports) == ([], {})
    assert "would write /R/2024/ENG-1010/NOTEBOOKS/etl" in result.summary()


def test_settings_from_params():
    settings = RestoreSettings.from_params(
        {"ref": " backup/2026-11-02 ", "paths": ["/2024/ENG-101/", ""], "target_root": "", "dag_param": 1}
    )
    assert (settings.ref, settings.paths, settings.target_root) == (
        "backup/2026-11-02",
        ("2024/ENG-101",),
        None,
    )
    for params, name in (
        ({"ref": ""}, "ref"),
        ({"ref": "--upload-pack=x"}, "ref"),
        ({"ref": "main", "target_root": "Restored/"}, "target_root"),
        ({"ref": "main", "git_conn_id": ""}, "git_conn_id"),
    ):
        with pytest.raises(SettingsError, match=f"^{name}"):
            RestoreSettings.from_params(params)


def hostile(
    workspace_path: str, repo_path: str = "2024/ENG-101/NOTEBOOKS/etl.py"
) -> dict[str, ManifestEntry]:
    """The manifest with its etl.py line rewritten by someone who can push: ``repo_path`` claims
    ``workspace_path``."""
    line = MANIFEST["2024/ENG-101/NOTEBOOKS/etl.py"]
    forged = ManifestEntry(
        repo_path, workspace_path, line.object_id, line.object_type, line.language, 1, line.blob_id
    )
    return {p: e for p, e in MANIFEST.items() if p != "2024/ENG-101/NOTEBOOKS/etl.py"} | {repo_path: forged}


def written_under(items, root: str) -> bool:
    """Every target is a normalised path below ``root``."""
    return all(
        item.target_path.startswith(root + "/")
        and not {"", ".", ".."} & set(item.target_path[len(root) + 1 :].split("/"))
        for item in items
    )


@pytest.mark.parametrize(
    ("workspace_path", "why"),
    [
        ("/Users/admin@corp.com/x", "not under /Clients"),
        ("/Users/admin@corp.com/2024/ENG-101/NOTEBOOKS/etl", "not under /Clients"),  # its own root
        ("/Clients/../../Users/x", r"'\.\.'"),
        ("/Clients/2024/ENG-101/NOTEBOOKS/../../../../Users/admin/etl", r"'\.\.'"),
        ("/Clients/2024/ENG-101/./NOTEBOOKS/etl", r"'\.'"),
        ("/Clients/2024/ENG-101//NOTEBOOKS/etl", "''"),
        ("Clients/2024/ENG-101/NOTEBOOKS/etl", "not an absolute path"),
        ("/Clients/2024/ENG-999/NOTEBOOKS/etl", "backed up as 2024/ENG-999/NOTEBOOKS/etl.py"),
        ("/Clients/2024/ENG-101/NOTEBOOKS/etl.py", "backed up as 2024/ENG-101/NOTEBOOKS/etl.py.py"),
    ],
)
@pytest.mark.parametrize("target_root", [None, "/Restored/a"])
def test_a_manifest_line_that_points_elsewhere_is_skipped_and_named_the_rest_restored(
    workspace_path, why, target_root
):
    items, failed = plan_items(hostile(workspace_path), tree(), target_root=target_root)
    assert sorted(targets(items)) == sorted(set(MANIFEST) - {"2024/ENG-101/NOTEBOOKS/etl.py"})
    assert written_under(items, target_root or "/Clients")
    (failure,) = failed
    assert failure.path == workspace_path
    assert failure.reason.startswith("2024/ENG-101/NOTEBOOKS/etl.py: refused, ")
    assert re.search(why, failure.reason), failure.reason


def test_dots_are_refused_even_where_the_repo_path_escapes_them_alike():
    workspace_path = "/Clients/2024/../../Users/admin@corp.com/etl"
    repo_path = to_repo_path("/Clients", workspace_path, "NOTEBOOK", "PYTHON")  # 2024/.%2E/.%2E/Users/...
    content = {p: data for p, data in CONTENT.items() if p != "2024/ENG-101/NOTEBOOKS/etl.py"} | {
        repo_path: ETL
    }
    items, failed = plan_items(hostile(workspace_path, repo_path), tree(content))
    assert written_under(items, "/Clients") and len(items) == 3
    assert [(f.path, "'..'" in f.reason) for f in failed] == [(workspace_path, True)]


@pytest.mark.parametrize("target_root", ["/Restored/a/../../Users/admin", "/Restored/./a", "/Restored//a"])
def test_a_target_root_that_is_not_normalised_is_refused_before_anything_is_planned(target_root):
    with pytest.raises(RestoreError, match=r"^target_root"):
        plan_items(MANIFEST, tree(), target_root=target_root)


def test_a_hostile_name_is_named_escaped_and_cut_short():
    workspace_path = "/Users/admin/" + "x" * 100_000 + "\nRestore of main: 4 restored, 0 failed"
    _, (failure,) = plan_items(hostile(workspace_path), tree())
    assert "\n" not in failure.path + failure.reason
    assert (
        failure.path.startswith("'/Users/admin/xx") and len(failure.path) < 200 and len(failure.reason) < 400
    )
