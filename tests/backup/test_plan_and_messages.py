"""The run rules apart from Airflow: export task groups and the manifest cut by year (diff.py),
completeness (PlanResult.missing), the commit and tag texts (messages.py)."""

from datetime import datetime

import pytest

from airflow_gitsync import diff, messages
from airflow_gitsync.compat import UTC
from airflow_gitsync.diff import EngagementChanges, FolderRule, ListedObject
from airflow_gitsync.manifest import ManifestEntry, dump_manifest
from airflow_gitsync.params import SettingsError
from airflow_gitsync.results import PlannedEngagement, PlanResult
from airflow_gitsync.workspace.export import ExportResult


def _engagement(name, exports=0, deletions=0):
    obj = ListedObject(f"/Clients/{name}/NOTEBOOKS/x", f"{name}/NOTEBOOKS/x.py", 1, "NOTEBOOK", "PYTHON", 1)
    return EngagementChanges(
        name, to_export=[obj] * exports, deleted=[f"{name}/NOTEBOOKS/gone{i}.py" for i in range(deletions)]
    )


ENGAGEMENTS = [_engagement("2024/B", 3), _engagement("2024/A", 1, 1), _engagement("2025/C", 5)]


def test_engagements_share_a_task_up_to_the_batch_size():
    groups = diff.plan_exports(ENGAGEMENTS, task_calls=4, max_map_length=1024, folder_rule=FolderRule(0))
    assert [label for label, _ in groups] == ["2024/A … 2024/B (2 engagements)", "2025/C"]
    assert [[e.engagement for e in group] for _, group in groups] == [["2024/A", "2024/B"], ["2025/C"]]


def test_batch_size_one_is_one_task_per_engagement():
    groups = diff.plan_exports(ENGAGEMENTS, task_calls=1, max_map_length=1024, folder_rule=FolderRule(0))
    assert [label for label, _ in groups] == ["2024/A", "2024/B", "2025/C"]


def test_too_many_tasks_names_the_setting():
    with pytest.raises(SettingsError, match=r"max_map_length = 2.*export_task_calls"):
        diff.plan_exports(ENGAGEMENTS, task_calls=1, max_map_length=2, folder_rule=FolderRule(0))


def test_an_engagement_exported_as_a_folder_weighs_one_call():
    per_object = diff.plan_exports(ENGAGEMENTS, task_calls=5, max_map_length=1024, folder_rule=FolderRule(0))
    folders = diff.plan_exports(ENGAGEMENTS, task_calls=5, max_map_length=1024, folder_rule=FolderRule(2, 0))
    assert [len(group) for _, group in per_object] == [2, 1]  # 1 + 1, 3 + 1, then 5 + 1
    assert [len(group) for _, group in folders] == [3]  # 1 + 1, 1 + 1, 1 + 1
    assert [e.export_calls(FolderRule(2, 0)) for e in ENGAGEMENTS] == [1, 1, 1]
    assert [e.export_calls(FolderRule(0)) for e in ENGAGEMENTS] == [3, 1, 5]


def test_a_folder_export_needs_a_large_enough_share_of_the_engagement_to_change():
    rule = FolderRule(min_objects=2, min_share=0.25)
    changes = _engagement("2024/B", 12)
    changes.listed = 50
    assert not changes.folder_export(rule)  # 12 of 50: twelve calls beat reading fifty notebooks
    changes.listed = 48
    assert changes.folder_export(rule)  # 12 of 48
    assert not _engagement("2024", 12).folder_export(FolderRule(2, 0))  # loose objects of a year: no folder


def test_missing_engagements_are_the_planned_ones_without_a_result():
    engagements = [PlannedEngagement("2024/A", 1), PlannedEngagement("2024/B", 2), PlannedEngagement("", 1)]
    planned = PlanResult(engagements, export_tasks=[], missing_years=[])
    assert planned.missing([ExportResult("2024/A")]) == ["", "2024/B"]
    assert planned.missing([ExportResult(e.engagement) for e in engagements]) == []


def test_messages_count_content_changes_and_say_when_years_limited_the_run():
    exports = [
        ExportResult("2024/A", deletions=["2024/A/x.py"], added=2, modified=1, unchanged=4),
        ExportResult("2024/B", modified=3),
    ]
    day = datetime(2026, 11, 27, tzinfo=UTC)
    info = messages.commit_info("run-1", day, "2026-11-27T02:00:05+00:00", [], ["2024"])
    message = messages.tag_message(info, exports, ["2024"])
    # an export whose blob did not change is not "modified"
    assert message.startswith("Databricks backup for 2026-11-27 (4 modified, 2 added, 1 deleted)\n")
    assert "scope: years 2024 only; other years as of the previous backup" in message
    assert info.summary_lines == ["Scope: years 2024 only; other years as of the previous backup"]
    full = messages.tag_message(messages.commit_info("run-1", day, "t", [], []), exports, [])
    assert "scope" not in full


def test_an_incomplete_run_says_which_engagements_are_missing():
    info = messages.commit_info("r", datetime(2026, 1, 1), "t", [f"2024/E{i}" for i in range(25)], [])
    (line,) = info.summary_lines
    assert line.startswith("Incomplete: 25 engagements not exported: 2024/E0, 2024/E1") and line.endswith(
        " ..."
    )


def _entry(workspace_path, repo_path):
    return ManifestEntry(repo_path, workspace_path, 1, "FILE", None, 1, "0" * 40)


def test_a_backup_of_another_root_is_refused_unless_allowed():
    _, roots = diff.split_manifest(
        dump_manifest([_entry("/Clients/2024/E/x", "2024/E/x"), _entry("/Clients/.git", "%2Egit")])
    )
    assert roots == {"/Clients"}
    diff.check_root(roots, "/Clients")
    diff.check_root(roots, "/Clients/")
    for other in ("/Clients/2024", "/"):
        with pytest.raises(
            SettingsError, match=r"^workspace_root .*holds a backup of /Clients.*allow_root_change"
        ):
            diff.check_root(roots, other)
        diff.check_root(roots, other, allow_change=True)
    diff.check_root(set(), "/Anything")


def test_the_manifest_is_cut_by_year_into_the_bytes_each_year_would_dump():
    entries = [
        _entry("/Clients/loose", "loose"),
        _entry("/Clients/2023.txt", "2023.txt"),
        _entry("/Clients/2023/E/NOTEBOOKS/a", "2023/E/NOTEBOOKS/a"),
        _entry("/Clients/2023-old/x", "2023-old/x"),
        _entry("/Clients/2024/E/NOTEBOOKS/\u00e9t\u00e9", "2024/E/NOTEBOOKS/\u00e9t\u00e9"),
        _entry("/Clients/2024/y", "2024/y"),
    ]
    parts, roots = diff.split_manifest(dump_manifest(entries))
    assert roots == {"/Clients"}
    years = {"": entries[:2], "2023": [entries[2]], "2023-old": [entries[3]], "2024": entries[4:]}
    assert parts == {year: dump_manifest(part) for year, part in years.items()}
    assert diff.split_manifest(b"") == ({}, set())


@pytest.mark.parametrize(
    ("line", "error"),
    [
        (b"{not json", r"line 2: "),
        (b'{"repo_path": 1}', r"line 2: bad manifest record .*no repo and workspace path"),
    ],
)
def test_a_manifest_line_that_cannot_be_cut_is_named(line, error):
    good = dump_manifest([_entry("/Clients/2024/E/x", "2024/E/x")])
    with pytest.raises(ValueError, match=rf"^\.gitsync/manifest\.jsonl {error}"):
        diff.split_manifest(good + line + b"\n")
