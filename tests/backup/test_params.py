import subprocess
from dataclasses import fields
from datetime import datetime

import pytest

from airflow_gitsync.dags.common import trigger_form
from airflow_gitsync.params import (
    BACKUP_PARAMS,
    RESTORE_PARAMS,
    VERIFY_PARAMS,
    BackupSettings,
    RestoreSettings,
    SettingsError,
    VerifySettings,
)


def test_defaults_match_the_documented_params():
    settings = BackupSettings.from_params({})
    assert settings.workspace_root == "/Clients"
    assert (settings.branch, settings.working_branch) == ("main", "backup/daily")
    assert settings.tag_for(datetime(2026, 11, 27, 2)) == "backup/2026-11-27"
    assert settings.commit_batch_size == 5000
    assert (settings.databricks_conn_id, settings.git_conn_id) == (
        "databricks_default",
        "azure_devops_git_default",
    )


def test_params_override_and_round_trip():
    params = {"years": ["2024", " 2025 ", ""], "full_scan": True, "dry_run": True, "extra": 1}
    settings = BackupSettings.from_params(params)
    assert settings.years == ("2024", "2025")
    assert BackupSettings.from_params(settings.to_params()) == settings


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"workspace_root": "Clients"}, "workspace_root"),
        ({"workspace_root": "/Clients/"}, "workspace_root"),
        ({"branch": "main..x"}, "branch"),
        ({"working_branch": "backup daily"}, "working_branch"),
        ({"working_branch": "main"}, "working_branch"),
        ({"tag_format": "backup/latest"}, "tag_format"),
        ({"tag_format": "backup/%Y-%m-%d~1"}, "tag_format"),
        ({"commit_batch_size": 0}, "commit_batch_size"),
        ({"years": ["../2024"]}, "years"),
        ({"git_conn_id": ""}, "git_conn_id"),
    ],
)
def test_bad_params_name_the_param(params, named):
    with pytest.raises(SettingsError, match=named):
        BackupSettings.from_params(params)


def test_every_param_is_a_settings_field():
    assert [s.name for s in BACKUP_PARAMS] == [f.name for f in fields(BackupSettings)]
    assert [s.name for s in RESTORE_PARAMS] == [f.name for f in fields(RestoreSettings)]
    assert [s.name for s in VERIFY_PARAMS] == [f.name for f in fields(VerifySettings)]


@pytest.mark.parametrize(
    ("specs", "settings", "base"),
    [
        (BACKUP_PARAMS, BackupSettings, {}),
        (RESTORE_PARAMS, RestoreSettings, {"ref": "main"}),
        (VERIFY_PARAMS, VerifySettings, {}),
    ],
)
def test_the_trigger_form_and_the_validation_agree(specs, settings, base):
    """Each Param of the form accepts and rejects what ``from_params`` accepts and rejects."""
    form = trigger_form(specs)
    for spec in specs:
        param = form[spec.name]
        assert (param.value, param.schema["title"], param.description or "") == (
            spec.default,
            spec.title,
            spec.description,
        )
        samples = {
            "string": ["", "x", "/Clients", "sample", "full", 3, None],
            "integer": [-1, 0, 1, 100_000, 100_001, "7", None],
            "boolean": [True, False, "yes", None],
            "array": [[], ["2024"], "2024", [1], None],
        }
        kind = next(
            t
            for t in ([spec.schema["type"]] if isinstance(spec.schema["type"], str) else spec.schema["type"])
            if t != "null"
        )
        for value in samples[kind]:
            form_ok = _accepts(param, value)
            try:
                settings.from_params(base | {spec.name: value})
                valid = True
            except SettingsError:
                valid = False
            # the validation may be stricter (git ref rules), never looser than the form
            assert form_ok or not valid, (spec.name, value)
            if not form_ok:
                with pytest.raises(SettingsError, match=f"^{spec.name}"):
                    settings.from_params(base | {spec.name: value})


def test_the_form_marks_only_truly_required_params():
    """Airflow's form stars a param whose schema type does not allow null; null means the default."""
    required = [s.name for s in BACKUP_PARAMS + RESTORE_PARAMS if "null" not in s.schema["type"]]
    assert required == ["ref"]
    assert BackupSettings.from_params(dict.fromkeys(s.name for s in BACKUP_PARAMS)) == (
        BackupSettings.from_params({})
    )


def _accepts(param, value) -> bool:
    from airflow.sdk import Param

    try:
        Param(value, **param.schema).resolve()
    except Exception:
        return False
    return True


def test_overridden_defaults_are_checked():
    form = trigger_form(BACKUP_PARAMS, {"workspace_root": "/Clients/2024"})
    assert form["workspace_root"].value == "/Clients/2024"
    with pytest.raises(SettingsError, match=r"^commit_batch_size"):
        trigger_form(BACKUP_PARAMS, {"commit_batch_size": 0})
    with pytest.raises(ValueError, match="unknown params"):
        trigger_form(BACKUP_PARAMS, {"nope": 1})


def test_verify_defaults_and_bad_values():
    settings = VerifySettings.from_params({})
    assert (settings.mode, settings.seed, settings.ref, settings.workspace_root) == ("sample", None, "", None)
    assert settings.tag_prefix == "backup/"
    copy = VerifySettings.from_params({"mode": "full", "seed": 7, "workspace_root": "/Restored/x"})
    assert (copy.mode, copy.seed, copy.workspace_root) == ("full", 7, "/Restored/x")
    for params, named in [
        ({"mode": "most"}, "mode"),
        ({"seed": -1}, "seed"),
        ({"ref": "-x"}, "ref"),
        ({"tag_format": "latest"}, "tag_format"),
        ({"workspace_root": "Restored"}, "workspace_root"),
    ]:
        with pytest.raises(SettingsError, match=f"^{named}"):
            VerifySettings.from_params(params)


@pytest.mark.parametrize("settings", [BackupSettings, VerifySettings])
@pytest.mark.parametrize("tag_format", ["-backup/%Y-%m-%d", "-%Y-%m-%d"])
def test_a_tag_format_giving_a_tag_that_starts_with_a_dash_is_refused(settings, tag_format):
    """Such a tag is pushed, then ``git checkout -backup/...`` reads it as an option: refused up front."""
    with pytest.raises(SettingsError, match=r"^tag_format '-.*': the tag '-.*' starts with '-'"):
        settings.from_params({"tag_format": tag_format})


@pytest.mark.parametrize(
    "tag_format",
    [
        "backup/%Y-%m-%d-%l",  # " 2" at 02:00 (12 at midnight, which the logical date of a daily run is)
        "backup/%Y-%m/.%d",  # a component starting with "."
        "backup/%Y-%m-%d\x7f",
        "backup/%Y-%m-%d %H",
    ],
)
def test_a_tag_format_must_give_a_valid_tag_on_every_date(tag_format):
    with pytest.raises(SettingsError, match=r"^tag_format .*valid git tag name"):
        BackupSettings.from_params({"tag_format": tag_format})


@pytest.mark.parametrize(
    "name",
    [
        "backup/2026-11-12", "a/.b", ".a", "a..b", "a.lock", "a.lock/b", "a/b.lock", "a@{b", "a@b", "a\x7fb",
        "a b", "a~b", "a^b", "a:b", "a?b", "a*b", "a[b", "a\\b", "a/", "a//b", "/a", "a.", "a/.", "x.lockx",
        "x/-y", "ü/2026", "a\tb",
    ],
)  # fmt: skip
def test_ref_names_are_checked_as_git_checks_them(name):
    git = subprocess.run(["git", "check-ref-format", f"refs/heads/{name}"], check=False).returncode == 0
    try:
        BackupSettings.from_params({"working_branch": name})
        valid = True
    except SettingsError:
        valid = False
    assert valid == git, name


@pytest.mark.parametrize("name", ["-x", "@"])
def test_ref_names_git_could_take_for_an_option_or_head_are_refused(name):
    with pytest.raises(SettingsError, match=r"^working_branch"):
        BackupSettings.from_params({"working_branch": name})
