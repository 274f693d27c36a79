"""The synthetic workspace: deterministic, realistic sizes and languages, the mess of real workspaces."""

from __future__ import annotations

import re
import resource
import time
from collections import Counter

from gitsync_devkit.emulator import WorkspaceEmulator
from gitsync_devkit.workspace_generator import (
    CELL_SEPARATORS,
    MAX_EXPORT_BYTES,
    NOTEBOOK_HEADERS,
    GeneratedObject,
    generate_workspace,
)

LAYOUT = re.compile(r"/Clients/(2023|2024|2025)/ENG-\1-\d{4}[^/]*/NOTEBOOKS/[^/]+")


def notebooks(objects: list[GeneratedObject]) -> list[GeneratedObject]:
    return [o for o in objects if o.object_type == "NOTEBOOK"]


def test_deterministic_by_seed():
    first = list(generate_workspace(300, seed=11))
    assert first == list(generate_workspace(300, seed=11))
    assert [o.content for o in first[:40]] == [o.content for o in generate_workspace(300, seed=11)][:40]
    other = list(generate_workspace(300, seed=12))
    assert [o.path for o in other] != [o.path for o in first] or [o.size for o in other] != [
        o.size for o in first
    ]


def test_n_counts_notebooks_and_parents_come_first():
    for n in (0, 1, 7, 8, 60, 1000):
        objects = list(generate_workspace(n, seed=n))
        assert len(notebooks(objects)) == n
        seen = {"/Clients"}
        for obj in objects:
            assert obj.path.rsplit("/", 1)[0] in seen, obj.path
            seen.add(obj.path)
        assert len(seen) == len(objects) + 1  # no duplicate paths


def test_layout_languages_and_sizes_at_2000():
    objects = list(generate_workspace(2000, seed=4))
    nbs = notebooks(objects)
    assert sum(bool(LAYOUT.fullmatch(o.path)) for o in nbs) >= 0.99 * len(nbs)
    languages = Counter(o.language for o in nbs)
    assert set(languages) == {"PYTHON", "SQL", "SCALA", "R"}
    assert languages["PYTHON"] > 0.6 * len(nbs) and min(languages.values()) > 0.03 * len(nbs)
    sizes = [o.size for o in nbs]
    assert sum(2048 <= s <= 20480 for s in sizes) > 0.85 * len(nbs)
    assert sum(s > 100_000 for s in sizes) >= 2  # a long tail
    assert sum(s > MAX_EXPORT_BYTES for s in sizes) == 1
    assert sum(10_000_000 <= s <= MAX_EXPORT_BYTES for s in sizes) == 1
    engagements = {o.path.split("/")[3] for o in objects if o.path.count("/") >= 4}
    assert 35 <= len(engagements) <= 55


def test_content_is_exact_size_with_the_right_header_and_separators():
    nbs = notebooks(list(generate_workspace(400, seed=9)))
    by_language = {o.language: o for o in nbs if o.size < 50_000}
    assert set(by_language) == {"PYTHON", "SQL", "SCALA", "R"}
    for language, obj in by_language.items():
        content = obj.content
        assert len(content) == obj.size
        assert content.startswith(NOTEBOOK_HEADERS[language].encode() + b"\n")
        assert f"\n\n{CELL_SEPARATORS[language]}\n\n".encode() in content
    huge = max(nbs, key=lambda o: o.size)
    assert len(huge.content) == huge.size > MAX_EXPORT_BYTES


def test_the_mess_of_real_workspaces():
    objects = list(generate_workspace(60, seed=1))
    paths = [o.path for o in objects]
    types = Counter(o.object_type for o in objects)
    assert types["LIBRARY"] >= 1 and types["DASHBOARD"] >= 1
    nb_paths = [o.path for o in notebooks(objects)]
    assert any(re.fullmatch(r"/Clients/\d{4}/[^/]+", p) for p in nb_paths)  # loose under a year folder
    assert any("/NOTEBOOKS/" not in p and p.count("/") == 4 for p in nb_paths)  # outside NOTEBOOKS/
    assert any(p.count("/") >= 7 for p in nb_paths)  # deeper subfolders
    lowered = Counter(p.lower() for p in nb_paths)
    assert any(count == 2 for count in lowered.values())  # names differing only by case
    assert any(not p.isascii() for p in nb_paths) and any(" " in p.rsplit("/", 1)[1] for p in nb_paths)
    directories = {o.path for o in objects if o.object_type == "DIRECTORY"}
    parents = {p.rsplit("/", 1)[0] for p in paths}
    assert directories - parents  # empty engagements (and empty NOTEBOOKS folders)
    files = [o for o in generate_workspace(2000, seed=1) if o.object_type == "FILE"]
    assert files and all(len(f.content) == f.size for f in files[:5])


def test_70k_notebooks_load_fast_and_small():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    emu = WorkspaceEmulator()
    emu.load_generated(70_000, seed=3)
    elapsed = time.monotonic() - started
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    objects = emu.objects()
    nbs = [o for o in objects if o["object_type"] == "NOTEBOOK"]
    engagements = {o["path"].split("/")[3] for o in objects if o["path"].count("/") >= 4}
    assert len(nbs) == 70_000 and 1_350 <= len(engagements) <= 1_650
    assert elapsed < 20 and grown_mb < 500, (elapsed, grown_mb)
