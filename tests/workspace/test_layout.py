from __future__ import annotations

import pytest

from airflow_gitsync.layout import (
    UnsafePathError,
    case_collisions,
    check_repo_path,
    engagement_of,
    in_layout,
    relative_parts,
    to_repo_path,
    to_workspace_path,
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
    assert to_workspace_path(ROOT, expected, object_type) == workspace_path


def test_notebook_without_known_language_is_refused():
    with pytest.raises(ValueError, match="language"):
        to_repo_path(ROOT, "/Clients/2024/E/NOTEBOOKS/x", "NOTEBOOK", None)
    with pytest.raises(ValueError, match="extension"):
        to_workspace_path(ROOT, "2024/E/NOTEBOOKS/x.txt", "NOTEBOOK")


@pytest.mark.parametrize(
    "workspace_path",
    [
        "/Clients/2024/../etc/passwd",
        "/Clients/2024/./x",
        "/Clients/2024//x",
        "/Clients/2024/E/.git/config",
        "/Clients/2024/E/.GIT/hooks",
        "/Clients/2024/E/.Git./x",
        "/Clients/2024/E/a\x00b",
        "/Clients/2024/E/a\nb",
        "/Clients/2024/E/a\x7fb",
        "/Clients/2024/E/a\\b",
        "/Other/2024/x",
        "/Clients",
        "Clients/x",
        "/Clients/.gitsync/manifest.jsonl",
        "/Clients/" + "a" * 4100,
    ],
)
def test_unsafe_paths_are_refused_naming_the_path(workspace_path):
    with pytest.raises(UnsafePathError) as info:
        to_repo_path(ROOT, workspace_path, "FILE", None)
    assert info.value.path == workspace_path
    assert repr(workspace_path) in str(info.value)


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
    ["", "/abs.py", "a/../b.py", "a/.git/config", "a/.GIT/x", "a\0b", "a\nb", "a//b", ".gitsync/x", "a\\b"],
)
def test_unsafe_repo_paths_are_refused(path):
    with pytest.raises(UnsafePathError):
        check_repo_path(path)


def test_safe_repo_path_passes():
    assert check_repo_path("2024/ENG-1/NOTEBOOKS/año fiscal.py") == "2024/ENG-1/NOTEBOOKS/año fiscal.py"
