"""The rules of a repository per year (:mod:`airflow_gitsync.shards`) and the pure parts of
:mod:`airflow_gitsync.repositories`."""

from __future__ import annotations

import json
import logging
from datetime import date

import pytest

from airflow_gitsync.git.runner import GitRemoteNotFound
from airflow_gitsync.git.sizes import size_api_url
from airflow_gitsync.manifest import ManifestEntry, dump_manifest
from airflow_gitsync.repositories import (
    Branches,
    Opened,
    belongs,
    manifest_by_shard,
    open_repositories,
    read_sources,
)
from airflow_gitsync.results import RepoState
from airflow_gitsync.shards import (
    OTHER,
    ShardingError,
    SwitchRecord,
    is_archived,
    shard_of,
    shard_of_path,
    shard_url,
)
from airflow_gitsync.staging import StagingStore

TEMPLATE = "https://dev.azure.com/org/proj/_git/notebooks-{year}"
MAIN, OLD = "a" * 40, "b" * 40


@pytest.mark.parametrize(
    ("name", "shard"),
    [("2024", "2024"), ("1999", "1999"), ("Archive", OTHER), ("20245", OTHER),
     ("\uff12\uff10\uff12\uff14", OTHER), ("../2024", OTHER), ("", OTHER), ("2024 ", OTHER),
     ("%2E2024", OTHER)],
)  # fmt: skip
def test_only_four_ascii_digits_get_a_repository_of_their_own(name, shard):
    assert shard_of(name) == shard


def test_a_workspace_name_never_reaches_a_url():
    assert shard_url(TEMPLATE, "2024").endswith("/notebooks-2024")
    assert shard_url(TEMPLATE, OTHER).endswith("/notebooks-other")
    for hostile in ("../x", "2024/../../y", "a b", "x?y"):
        with pytest.raises(ShardingError, match="four digits"):
            shard_url(TEMPLATE, hostile)
    with pytest.raises(ShardingError, match=r"no \{year\}"):
        shard_url("https://host/repo", "2024")


def test_paths_and_engagements_go_to_the_shard_of_their_year_folder():
    assert shard_of_path("2024/ENG-1/NOTEBOOKS/a.py") == "2024"
    assert shard_of_path("Archive/x.py") == OTHER
    assert shard_of_path("2024.py") == OTHER  # a file directly under the root
    assert belongs("2024", "2024/ENG-1") and belongs("2024", "2024") and not belongs("2024", "2023/ENG-1")
    assert belongs(OTHER, "") and belongs("", "anything")


def test_the_manifest_is_cut_by_shard_keeping_each_line():
    entries = [
        ManifestEntry(repo_path=p, workspace_path="/Clients/" + p.removesuffix(".py"), object_type="NOTEBOOK",
                      language="PYTHON", object_id=i, modified_at=1, blob_id=f"{i:040x}")
        for i, p in enumerate(["2023/E/a.py", "2024/E/b.py", "Archive/c.py", "2024/F/d.py"], start=1)
    ]  # fmt: skip
    parts = manifest_by_shard(dump_manifest(entries))
    assert sorted(parts) == ["2023", "2024", OTHER]
    assert parts["2024"] == dump_manifest([entries[1], entries[3]])


def test_a_year_in_another_years_manifest_is_ignored_not_fatal(caplog):
    def entry(path: str, i: int) -> ManifestEntry:
        return ManifestEntry(repo_path=path, workspace_path="/Clients/" + path.removesuffix(".py"),
                             object_type="NOTEBOOK", language="PYTHON", object_id=i, modified_at=1,
                             blob_id=f"{i:040x}")  # fmt: skip

    opened = Opened(
        [],
        manifests={
            "2023": dump_manifest([entry("2023/E/a.py", 1), entry("2024/E/forged.py", 2)]),
            "2024": dump_manifest([entry("2024/E/b.py", 3)]),
        },
    )
    slices, roots = opened.slices(logging.getLogger("test"))
    assert slices == {
        "2023": dump_manifest([entry("2023/E/a.py", 1)]),
        "2024": dump_manifest([entry("2024/E/b.py", 3)]),
    }
    assert roots == {"/Clients"}
    assert "lists year '2024', not its own" in caplog.text


def test_a_repository_is_closed_only_while_an_archive_tag_points_at_its_main():
    refs = {"refs/heads/main": MAIN, "refs/tags/archive/2019": "t" * 40, "refs/tags/archive/2019^{}": MAIN}
    assert is_archived(refs, "2019", "main")
    assert not is_archived(refs | {"refs/heads/main": OLD}, "2019", "main")  # re-opened since
    assert not is_archived(refs, "2020", "main")
    reclosed = {"refs/heads/main": OLD, "refs/tags/archive/2019^{}": MAIN, "refs/tags/archive/2019.2^{}": OLD}
    assert is_archived(reclosed, "2019", "main")
    assert not is_archived({"refs/heads/main": MAIN, "refs/tags/archive/2019x^{}": MAIN}, "2019", "main")


def test_the_switch_record_is_json_naming_the_day_the_tag_and_each_repository():
    record = SwitchRecord("2026-11-03", "sharded/2026-11-03", {"2024": "https://h/r-2024"})
    assert json.loads(record.dump()) == {
        "day": "2026-11-03",
        "tag": "sharded/2026-11-03",
        "repositories": {"2024": "https://h/r-2024"},
    }


class Access:
    """A sharded connection whose remotes answer from a dict of refs per URL."""

    sharded = True
    unsharded_url = "https://h/single"

    def __init__(self, refs: dict[str, dict[str, str]]) -> None:
        self.refs = refs

    def repository_url(self, shard: str = "") -> str:
        return shard_url("https://h/r-{year}", shard)

    def remote_refs(self, url: str, *patterns: str) -> dict[str, str]:
        if url not in self.refs:
            raise GitRemoteNotFound(f"repository {url} not found")
        wanted = [p.removesuffix("*") for p in patterns]
        return {r: o for r, o in self.refs.get(url, {}).items() if any(r.startswith(w) for w in wanted)}


def test_a_restore_reads_the_single_repository_before_the_switch_and_the_years_after_it():
    access = Access({
        "https://h/single": {"refs/tags/backup/2026-11-01": OLD},
        "https://h/r-2024": {"refs/heads/main": MAIN, "refs/tags/backup/2026-11-05": MAIN},
        "https://h/r-2019": {"refs/heads/main": MAIN, "refs/tags/archive/2019": "c" * 40,
                             "refs/tags/archive/2019^{}": MAIN},
    })  # fmt: skip
    (before,) = read_sources(access, "backup/2026-11-01", ["2024/ENG-1", "2019"], "main")
    assert (before.url, before.paths) == ("https://h/single", ["2024/ENG-1", "2019"])
    after = read_sources(access, "backup/2026-11-05", ["2024/ENG-1", "2019"], "main")
    assert [(s.url, s.ref, s.paths) for s in after] == [
        ("https://h/r-2019", "archive/2019", ["2019"]),  # closed: its content since
        ("https://h/r-2024", "backup/2026-11-05", ["2024/ENG-1"]),
    ]
    everything = read_sources(access, "backup/2026-11-05", [], "main", today=date(2026, 12, 4))
    assert [(s.url, s.ref, s.paths) for s in everything] == [
        ("https://h/r-2019", "archive/2019", []),
        ("https://h/r-2024", "backup/2026-11-05", []),
    ]
    with pytest.raises(ShardingError, match="in none of the repositories of the years 2000-2027"):
        read_sources(
            Access({"https://h/single": {}, "https://h/r-2024": {}}),
            "backup/1999-01-01",
            [],
            "main",
            today=date(2026, 12, 4),
        )
    with pytest.raises(GitRemoteNotFound, match="r-2023 not found"):
        read_sources(access, "backup/2026-11-05", ["2023"], "main")
    lacking = Access({"https://h/single": {}, "https://h/r-2023": {"refs/heads/main": MAIN}})
    with pytest.raises(ShardingError, match="'backup/2026-11-05' is not in the repository of 2023"):
        read_sources(lacking, "backup/2026-11-05", ["2023"], "main")


def test_the_size_api_of_an_azure_devops_repository():
    assert size_api_url("https://dev.azure.com/org/proj/_git/notebooks-2024") == (
        "https://dev.azure.com/org/proj/_apis/git/repositories/notebooks-2024?api-version=7.1"
    )
    assert size_api_url("https://user@dev.azure.com/org/My%20Proj/_git/a%20repo") == (
        "https://dev.azure.com/org/My%20Proj/_apis/git/repositories/a%20repo?api-version=7.1"
    )
    assert size_api_url("https://org.visualstudio.com/proj/_git/r.git").startswith(
        "https://org.visualstudio.com/proj/_apis/git/repositories/r?"
    )
    for other in ("git@ssh.dev.azure.com:v3/org/proj/repo", "https://github.com/o/r.git", "/tmp/repo.git",
                  "https://h/proj/_git/", "https://h/proj/_git/a/b"):  # fmt: skip
        assert size_api_url(other) is None


def test_a_tag_naming_repositories_that_do_not_exist_is_ignored_not_fatal(tmp_path, caplog):
    """Whoever can push writes the registry line: a year it names without a repository must not
    make every later run incomplete."""
    staging = StagingStore(tmp_path / "staging")
    slices = {"2024": staging.put(b"")}
    registry = {"slices": slices, "repositories": ["1999", "2024", "other"]}
    staging.put_archive(MAIN, json.dumps(registry).encode())
    closed = {"refs/heads/main": MAIN, "refs/tags/archive/2024": "c" * 40, "refs/tags/archive/2024^{}": MAIN}
    access = Access({"https://h/r-2024": closed})
    access.unsharded_url = None
    opened = open_repositories(
        access, Branches(tmp_path, "main", "backup/daily"), ["2024"], staging, logging.getLogger("t")
    )
    assert [(r.shard, r.state) for r in opened.repositories] == [("2024", RepoState.ARCHIVED)]
    assert opened.staged_slices == slices
    assert "a tag names 1999, which has no repository: ignored" in caplog.text
