"""The manifest's bytes: one line per entry whatever the names; every manifest ever written still reads."""

from __future__ import annotations

import sys

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from airflow_gitsync.blob import git_blob_id
from airflow_gitsync.layout import FILE, LANGUAGE_EXTENSIONS, NOTEBOOK, UnsafePathError, to_repo_path
from airflow_gitsync.manifest import ManifestEntry, ManifestFile, dump_manifest, load_manifest

# Every character str.splitlines() ends a line at: \n \r \v \f \x1c-\x1e \x85 \u2028 \u2029.
LINE_BREAKS = [chr(c) for c in range(sys.maxunicode + 1) if len(f"a{chr(c)}b".splitlines()) == 2]
# Any character a Python string can hold and UTF-8 can encode (so: not a lone surrogate).
NAMES = st.text(st.characters(codec="utf-8") | st.sampled_from(LINE_BREAKS), min_size=1)


def _entry(path: str, number: int = 1) -> ManifestEntry:
    return ManifestEntry(
        path, f"/Clients/{path}", number, FILE, None, 1_700_000_000_000 + number, git_blob_id(path.encode())
    )


def test_line_breaks_are_every_character_splitlines_splits_on():
    assert len(LINE_BREAKS) == 10 and "\u2028" in LINE_BREAKS and "\x1c" in LINE_BREAKS


@pytest.mark.parametrize("char", LINE_BREAKS, ids=lambda c: f"U+{ord(c):04X}")
def test_a_name_with_any_line_break_stays_on_one_line(char):
    entries = {p: _entry(p, n) for n, p in enumerate([f"2024/E/a{char}b.py", "2024/E/z.py"])}
    data = dump_manifest(entries.values())
    assert data.isascii() and len(data.split(b"\n")) == 3 and data.endswith(b"\n")
    assert load_manifest(data) == entries


def test_manifests_written_with_raw_utf8_still_read():
    """Before ensure_ascii, names were written as raw UTF-8, U+0085 and U+2028/9 included."""
    blob_id, name = git_blob_id(b"x"), "2024/Émile\u2028\x85\u2029"
    old = (
        f'{{"blob_id":"{blob_id}","language":"PYTHON","modified_at":1,"object_id":7,'
        f'"object_type":"NOTEBOOK","repo_path":"{name}.py","workspace_path":"/Clients/{name}"}}\n\n'
    ).encode()
    entry = ManifestEntry(f"{name}.py", f"/Clients/{name}", 7, NOTEBOOK, "PYTHON", 1, blob_id)
    assert load_manifest(old) == {entry.repo_path: entry}


def test_a_broken_line_is_reported_with_its_number():
    data = dump_manifest([_entry("a.py")]) + b'{"repo_path": "b.py\n'
    with pytest.raises(ValueError, match=r"manifest.jsonl line 2: Unterminated string"):
        load_manifest(data)


@given(st.lists(st.tuples(NAMES, st.sampled_from([None, *LANGUAGE_EXTENSIONS])), max_size=8))
@example([("etl\u2028x", "PYTHON"), ("é\x85", None), ("a\u2029b/c", "SQL")])
def test_any_name_round_trips_through_repo_path_and_manifest(objects):
    entries = {}
    for number, (name, language) in enumerate(objects):
        workspace_path = f"/Clients/2024/ENG-1/{name}"
        object_type = NOTEBOOK if language else FILE
        try:
            repo_path = to_repo_path("/Clients", workspace_path, object_type, language)
        except UnsafePathError:
            continue  # layout refuses it: it never reaches a manifest
        blob_id = git_blob_id(name.encode())
        entries[repo_path] = ManifestEntry(
            repo_path, workspace_path, number, object_type, language, number or None, blob_id
        )
    data = dump_manifest(entries.values())
    assert data.isascii() and data.count(b"\n") == len(entries)
    assert load_manifest(data) == entries


def test_a_manifest_file_reads_as_load_manifest_keeping_its_lines():
    entries = [_entry(f"2024/E/{n}.py", n) for n in range(5)]
    data = dump_manifest(entries)
    manifest = ManifestFile(data)
    assert dict(manifest) == load_manifest(data) and len(manifest) == 5
    assert "2024/E/3.py" in manifest and "2024/E/9.py" not in manifest
    assert b"\n".join(manifest.lines.values()) + b"\n" == data
    assert ManifestFile(b"") == {}


def test_a_manifest_file_names_a_repeated_path_and_a_bad_record():
    line = dump_manifest([_entry("a.py")])
    with pytest.raises(ValueError, match=r"manifest.jsonl: duplicate repo path 'a.py'"):
        ManifestFile(line + line)
    bad = ManifestFile(line.replace(b'"object_id":1', b'"object_id":"x"'))
    assert "a.py" in bad
    with pytest.raises(ValueError, match=r"manifest.jsonl, entry 'a.py': bad manifest record"):
        bad["a.py"]
    with pytest.raises(ValueError, match=r"line 1: bad manifest record .*no repo and workspace path"):
        ManifestFile(b'{"repo_path": "a.py"}\n')
