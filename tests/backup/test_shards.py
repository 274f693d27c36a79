"""The rules of a repository per year (:mod:`airflow_gitsync.shards`) and the pure parts of
:mod:`airflow_gitsync.repositories`."""

from __future__ import annotations

from datetime import date

import pytest

from airflow_gitsync.manifest import ManifestEntry, dump_manifest
from airflow_gitsync.repositories import belongs, manifest_by_shard, read_sources
from airflow_gitsync.shards import (
    OTHER,
    ShardingError,
    SwitchRecord,
    is_archived,
    shard_of,
    shard_of_path,
    shard_url,
)

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


def test_a_repository_is_closed_only_while_an_archive_tag_points_at_its_main():
    refs = {"refs/heads/main": MAIN, "refs/tags/archive/2019": "t" * 40, "refs/tags/archive/2019^{}": MAIN}
    assert is_archived(refs, "2019", "main")
    assert not is_archived(refs | {"refs/heads/main": OLD}, "2019", "main")  # re-opened since
    assert not is_archived(refs, "2020", "main")
    reclosed = {"refs/heads/main": OLD, "refs/tags/archive/2019^{}": MAIN, "refs/tags/archive/2019.2^{}": OLD}
    assert is_archived(reclosed, "2019", "main")
    assert not is_archived({"refs/heads/main": MAIN, "refs/tags/archive/2019x^{}": MAIN}, "2019", "main")


def test_the_switch_record_round_trips_and_a_bad_one_is_named():
    record = SwitchRecord("2026-11-03", "sharded/2026-11-03", {"2024": "https://h/r-2024"})
    assert SwitchRecord.load(record.dump(), "main") == record
    assert record.before(date(2026, 11, 2)) and not record.before(date(2026, 11, 3))
    for bad in (b"{", b"[]", b'{"day": "soon", "tag": "t", "repositories": {}}'):
        with pytest.raises(ShardingError, match="main: not a switch record"):
            SwitchRecord.load(bad, "main")


class Access:
    """A sharded connection whose remotes answer from a dict of refs per URL."""

    sharded = True
    unsharded_url = "https://h/single"

    def __init__(self, refs: dict[str, dict[str, str]]) -> None:
        self.refs = refs

    def repository_url(self, shard: str = "") -> str:
        return shard_url("https://h/r-{year}", shard)

    def remote_refs(self, url: str, *patterns: str) -> dict[str, str]:
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
    with pytest.raises(ShardingError, match="name the years"):
        read_sources(access, "backup/2026-11-05", [], "main")
    with pytest.raises(ShardingError, match="not in the repository of 2023"):
        read_sources(access, "backup/2026-11-05", ["2023"], "main")
