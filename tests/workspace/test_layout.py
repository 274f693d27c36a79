from __future__ import annotations

import pytest

from airflow_gitsync.layout import (
    UnsafePathError,
    case_collisions,
    check_repo_path,
    engagement_of,
    in_layout,
    relative_parts,
    root_of,
    safe_name,
    to_repo_path,
    year_of,
)

ROOT = "/Clients"


@pytest.mark.parametrize(
    ("workspace_path", "object_type", "language", "expected"),
    [
        ("/Clients/2024/ENG-101/NOTEBOOKS/etl", "NOTEBOOK", "PYTHON", "2024/ENG-101/NOTEBOOKS/etl.py"),
        ("/Clients/2024/ENG-101/NOTEBOOKS/q", "NOTEBOOK", "SQL", "2024/ENG-101/NOTEBOOKS/q.sql"),
        ("/Clients/2024/ENG-101/NOTEBOOKS/s", "NOTEBOOK", "SCALA", "2024/ENG-101/NOTEBOOKS/s.scala"),
        ("/Clients/2024/ENG-101/NOTEBOOKS/r", "NOTEBOOK", "R", "2024/ENG-101/NOTEBOOKS/r.r"),
        ("/Clients/2024/ENG-101/NOTEBOOKS/data.csv", "FILE", None, "2024/ENG-101/NOTEBOOKS/data.csv"),
        ("/Clients/x.py", "FILE", None, "x.py"),
        ("/Clients/2024/ENG 1/NOTEBOOKS/ünï code", "NOTEBOOK", "PYTHON", "2024/ENG 1/NOTEBOOKS/ünï code.py"),
    ],
)
def test_repo_path_round_trip(workspace_path, object_type, language, expected):
    assert to_repo_path(ROOT, workspace_path, object_type, language) == expected
    assert to_repo_path(ROOT + "/", workspace_path, object_type, language) == expected
    assert root_of(workspace_path, expected) == ROOT


def test_notebook_without_known_language_is_refused():
    with pytest.raises(ValueError, match="language"):
        to_repo_path(ROOT, "/Clients/2024/E/NOTEBOOKS/x", "NOTEBOOK", None)


@pytest.mark.parametrize("workspace_path", ["Clients/x", "/Clients//x", "/Clients/" + "a/" * 2100 + "b"])
def test_unsafe_paths_are_refused_naming_the_path(workspace_path):
    with pytest.raises(UnsafePathError) as info:
        to_repo_path(ROOT, workspace_path, "FILE", None)
    assert info.value.path == workspace_path
    assert repr(workspace_path) in str(info.value)


HOSTILE = [
    ".git", ".GIT", "GIT~1", "git~1", ".g\u200cit", ".git ", ".git.", ".git::$INDEX_ALLOCATION",
    ".gitmodules", "GITMOD~1", ".gitattributes", ".gitignore", ".mailmap", "CON", "nul.txt", "a:b",
    "back\\slash", "tab\tname", "x.", "x ", ".", "..", "50%", "\u00e9" * 200, "q?*<>|\"",
]  # fmt: skip


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_names_are_escaped_to_safe_components(name):
    assert safe_name(name) != name
    for suffix in ("", ".py"):
        escaped = safe_name(name, suffix)
        assert check_repo_path(f"2024/E/NOTEBOOKS/{escaped}")
        assert len(escaped.encode()) <= 255 and escaped.endswith(suffix)


def test_ordinary_names_are_kept_and_the_root_files_belong_to_the_backup():
    for name in ("etl", "año fiscal", "Report (Q1) v2", "a\u2028b", "x.py", "README.md", ".gitsync"):
        assert safe_name(name) == name
    assert safe_name("README.md", top_level=True) == "%52EADME.md"
    assert safe_name(".gitattributes", top_level=True) == "%2Egitattributes"
    assert to_repo_path(ROOT, "/Clients/.gitsync/manifest.jsonl", "FILE", None) == "%2Egitsync/manifest.jsonl"
    with pytest.raises(UnsafePathError):
        check_repo_path("README.md")
    assert check_repo_path("2024/README.md")


def test_long_names_are_cut_with_a_hash_of_the_whole_name():
    a, b = "n" * 300 + "a", "n" * 300 + "b"
    assert safe_name(a, ".py") != safe_name(b, ".py")
    assert len(safe_name(a, ".py").encode()) == 255


def test_relative_parts():
    assert relative_parts(ROOT, "/Clients/2024/E/NOTEBOOKS/x") == ("2024", "E", "NOTEBOOKS", "x")


@pytest.mark.parametrize(
    ("parts", "engagement", "year"),
    [
        (("2024", "ENG-101", "NOTEBOOKS", "etl"), "2024/ENG-101", "2024"),
        (("2024", "ENG-101", "loose.py"), "2024/ENG-101", "2024"),
        (("2024", "stray"), "2024", "2024"),
        (("stray",), "", ""),
        (("Archive", "old", "a", "b", "c"), "Archive/old", "Archive"),
    ],
)
def test_partition_and_unit(parts, engagement, year):
    assert engagement_of(parts) == engagement
    assert year_of(engagement) == year


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        (("2024", "ENG-101", "NOTEBOOKS", "etl"), True),
        (("2024", "ENG-101", "NOTEBOOKS", "sub", "etl"), True),
        (("2024", "ENG-101", "notebooks", "etl"), False),
        (("2024", "ENG-101", "etl"), False),
        (("24", "ENG-101", "NOTEBOOKS", "etl"), False),
        (("Archive", "ENG-101", "NOTEBOOKS", "etl"), False),
        (("etl",), False),
    ],
)
def test_in_layout(parts, expected):
    assert in_layout(parts) is expected


def test_case_collisions():
    paths = ["2024/E/NOTEBOOKS/etl.py", "2024/E/NOTEBOOKS/ETL.py", "2024/E/NOTEBOOKS/other.py", "2024/e/x"]
    assert case_collisions(paths) == [["2024/E/NOTEBOOKS/ETL.py", "2024/E/NOTEBOOKS/etl.py"]]
    assert case_collisions(["a", "a"]) == []


@pytest.mark.parametrize(
    "path",
    [
        "",
        "/abs.py",
        "a/../b.py",
        "a/.git/config",
        "a/.GIT/x",
        "a\0b",
        "a\nb",
        "a//b",
        ".gitsync/x",
        "a\\b",
        "a/GIT~1/x",
        "a/.gitmodules",
        "a/b:c",
        "a/CON.py",
        ".gitattributes",
    ],
)
def test_unsafe_repo_paths_are_refused(path):
    with pytest.raises(UnsafePathError):
        check_repo_path(path)


def test_safe_repo_path_passes():
    assert check_repo_path("2024/ENG-1/NOTEBOOKS/año fiscal.py") == "2024/ENG-1/NOTEBOOKS/año fiscal.py"
