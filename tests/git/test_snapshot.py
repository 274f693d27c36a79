"""The snapshot engine against the authenticated local git server, checked through fresh clones."""

from __future__ import annotations

import logging
import random
import subprocess
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_gitsync import layout
from airflow_gitsync.blob import git_blob_id
from airflow_gitsync.git import repo_files
from airflow_gitsync.git.auth import GitAuth
from airflow_gitsync.git.mirror import Mirror
from airflow_gitsync.git.runner import GitAuthError
from airflow_gitsync.git.snapshot import ChangeSet, CommitInfo, SnapshotEngine, SnapshotResult
from airflow_gitsync.manifest import MANIFEST_PATH, ManifestEntry, ManifestFile, dump_manifest, load_manifest
from gitsync_devkit.git_server import GitServer
from tests.fixtures.git_server import GIT_TOKEN, GIT_USER, auth_env, clone, push_commit
from tests.fixtures.packs import into_mirror
from tests.test_manifest import NAMES

DAY1 = CommitInfo("scheduled__2026-11-27", "2026-11-27T00:00:00+00:00", "2026-11-27T02:00:00+00:00")
DAY2 = CommitInfo(
    "scheduled__2026-11-28", "2026-11-28T00:00:00+00:00", "2026-11-28T02:00:00+00:00", ["2 failed"]
)
DAY3 = CommitInfo("scheduled__2026-11-29", "2026-11-29T00:00:00+00:00", "2026-11-29T02:00:00+00:00")


class Workspace:
    """The notebooks a test backs up: content goes into the mirror as a staged pack would, entries
    describe it."""

    def __init__(self, seed: int = 1) -> None:
        self.rng = random.Random(seed)
        self.entries: dict[str, ManifestEntry] = {}
        self.content: dict[str, bytes] = {}
        self.written: list[bytes] = []
        self.next_id = 1

    def write(self, path: str, content: bytes | None = None, size: int = 600) -> ManifestEntry:
        content = content if content is not None else self.rng.randbytes(size)
        self.next_id += 1
        entry = ManifestEntry(
            repo_path=path,
            workspace_path="/Clients/" + path.rsplit(".", 1)[0],
            object_id=self.next_id,
            object_type="NOTEBOOK",
            language="PYTHON",
            modified_at=1_700_000_000_000 + self.next_id,
            blob_id=git_blob_id(content),
        )
        self.entries[path], self.content[path] = entry, content
        self.written.append(content)
        return entry

    def apply(self, engine: SnapshotEngine, changes: ChangeSet, info: CommitInfo, **kwargs) -> SnapshotResult:
        """What the commit task does: the exports' pack into the mirror, then the engine's apply."""
        into_mirror(engine, self.written)
        return engine.apply(changes, info, **kwargs)

    def delete(self, path: str) -> str:
        del self.entries[path], self.content[path]
        return path

    def expected_tree(self) -> dict[str, bytes]:
        return {**self.content, MANIFEST_PATH: dump_manifest(self.entries.values()), **repo_files.FILES}


def _paths(count: int) -> list[str]:
    return [f"{2024 + i % 2}/ENG-{i % 4:03d}/NOTEBOOKS/nb_{i:04d}.py" for i in range(count)]


@pytest.fixture
def workspace(tmp_path) -> Workspace:
    return Workspace()


@pytest.fixture
def engine(git_remote, tmp_path) -> SnapshotEngine:
    return SnapshotEngine(git_remote, auth=GitAuth.basic(GIT_USER, GIT_TOKEN), cache_dir=tmp_path / "cache")


def _git(url: str, *args: str, token: str = GIT_TOKEN) -> str:
    env = auth_env(url, token)
    return subprocess.run(["git", *args], env=env, capture_output=True, text=True, check=True).stdout


def _initial(engine: SnapshotEngine, workspace: Workspace, count: int = 120, **kwargs):
    upserts = [workspace.write(p) for p in _paths(count)]
    return workspace.apply(engine, ChangeSet(upserts, []), DAY1, **kwargs)


def test_initial_snapshot_is_one_commit_with_manifest_and_tag(
    engine, workspace, git_remote, git_server, tmp_path
):
    result = _initial(engine, workspace, tag="backup/2026-11-27", tag_message="Backup of /Clients")

    assert len(result.commits) == 1 and result.head == result.commits[0] == result.merged_main
    assert result.previous_head is None and result.changed and result.tag_created
    assert result.tag == "backup/2026-11-27" and result.pushed_bytes > 0
    assert result.repo_size_bytes is None  # a blobless mirror: its size is not the repository's
    assert clone(git_remote, tmp_path / "clone") == workspace.expected_tree()
    tag = _git(git_remote, "-C", str(tmp_path / "clone"), "cat-file", "-p", "backup/2026-11-27")
    assert tag.startswith(f"object {result.head}\ntype commit\n") and "Backup of /Clients" in tag
    message = _git(git_remote, "-C", str(tmp_path / "clone"), "log", "-1", "--format=%B", "main")
    assert message.startswith("Backup 2026-11-27: 0 modified, 120 added, 0 deleted\n")
    assert "  2024/ENG-000: 0 modified, 30 added, 0 deleted" in message
    assert "Run id: scheduled__2026-11-27" in message and "Capture time: 2026-11-27T02:00:00+00:00" in message
    assert load_manifest(engine.manifest_file()) == workspace.entries
    pushed_refs = [sorted(ref for _, _, ref in push.refs) for push in git_server.push_log]
    assert pushed_refs == [  # main and the tag go in one push, once the branch has everything
        ["refs/heads/backup/daily"],
        ["refs/heads/main", "refs/tags/backup/2026-11-27"],
    ]


def test_incremental_modify_add_delete_rename(engine, workspace, git_remote, tmp_path):
    first = _initial(engine, workspace)
    paths = _paths(120)
    modified = [workspace.write(p) for p in paths[:3]]
    added = [
        workspace.write(f"2026/ENG-new/NOTEBOOKS/n{i}.sql", b"-- Databricks notebook source\n")
        for i in range(2)
    ]
    deleted = [workspace.delete(p) for p in paths[3:5]]
    renamed_content = workspace.content[paths[5]]
    deleted.append(workspace.delete(paths[5]))
    renamed = workspace.write("2025/ENG-001/NOTEBOOKS/renamed.py", renamed_content)
    changes = ChangeSet([*modified, *added, renamed], [*deleted, "2024/never/existed.py"])

    result = workspace.apply(engine, changes, DAY2, tag="backup/2026-11-28")

    assert result.previous_head == first.head and len(result.commits) == 1 and result.changed
    assert clone(git_remote, tmp_path / "clone") == workspace.expected_tree()
    log = _git(git_remote, "-C", str(tmp_path / "clone"), "log", "--format=%s", "main")
    assert log.splitlines()[0] == "Backup 2026-11-28: 3 modified, 3 added, 3 deleted"
    body = _git(git_remote, "-C", str(tmp_path / "clone"), "log", "-1", "--format=%B", "main")
    assert "  2026/ENG-new: 0 modified, 2 added, 0 deleted" in body and body.rstrip().endswith("2 failed")


def test_names_with_line_separators_are_read_back_the_next_day(engine, workspace, git_remote, tmp_path):
    names = [f"2024/ENG-1/NOTEBOOKS/a{char}b.py" for char in ("\x85", "\u2028", "\u2029")]
    workspace.apply(engine, ChangeSet([workspace.write(p) for p in names]), DAY1)
    assert load_manifest(engine.manifest_file()) == workspace.entries  # what the next run's prepare reads

    changes = ChangeSet([workspace.write(names[0]), workspace.write("2024/ENG-1/NOTEBOOKS/c.py")])
    workspace.apply(engine, ChangeSet(changes.upserts, [workspace.delete(names[1])]), DAY2)

    assert clone(git_remote, tmp_path / "clone") == workspace.expected_tree()
    assert load_manifest(engine.manifest_file()) == workspace.entries


def _manifest_entry(path: str) -> ManifestEntry:
    return ManifestEntry(path, f"/Clients/{path}", 1, "FILE", None, None, "0" * 40)


@given(st.sets(NAMES), st.sets(NAMES), st.sets(NAMES))
def test_incremental_manifest_is_byte_for_byte_dump_manifest(base, upserts, deletions):
    entries = {path: _manifest_entry(path) for path in base}
    lines = ManifestFile(dump_manifest(entries.values())).edit()
    for path in sorted(deletions - upserts):
        lines.put(path, None)
        entries.pop(path, None)
    for path in sorted(upserts):
        entries[path] = _manifest_entry(path)
        lines.put(path, entries[path])
    assert lines.dump() == dump_manifest(entries.values())


def test_rerun_with_same_input_creates_nothing(engine, workspace, git_server, tmp_path):
    first = _initial(engine, workspace, tag="backup/2026-11-27")
    pushes = len(git_server.push_log)
    again = workspace.apply(
        engine,
        ChangeSet(list(workspace.entries.values()), ["gone/path.py"]),
        DAY1,
        tag="backup/2026-11-27",
    )
    assert again.commits == [] and not again.changed and not again.tag_created
    assert again.head == first.head and again.tag == "backup/2026-11-27"
    assert len(git_server.push_log) == pushes


def test_tag_taken_by_another_commit_is_never_moved(engine, workspace, git_remote):
    first = _initial(engine, workspace, tag="backup/2026-11-27")
    second = workspace.apply(engine, ChangeSet([workspace.write("2024/x/NOTEBOOKS/late.py")]), DAY1,
                          tag="backup/2026-11-27")  # fmt: skip
    assert second.tag == "backup/2026-11-27.2" and second.tag_created
    tags = _git(git_remote, "ls-remote", "--tags", git_remote)
    assert f"{first.head}\trefs/tags/backup/2026-11-27^{{}}" in tags
    assert f"{second.head}\trefs/tags/backup/2026-11-27.2^{{}}" in tags


def test_merge_into_a_main_that_moved(engine, workspace, git_remote, tmp_path):
    _initial(engine, workspace)
    paths = _paths(120)
    push_commit(git_remote, tmp_path / "colleague", "main",
                {"docs/NOTES.md": b"hand-written\n", paths[0]: b"edited on main\n"}, "Docs")  # fmt: skip
    changes = ChangeSet([workspace.write(paths[1])], [workspace.delete(paths[2])])

    result = workspace.apply(engine, changes, DAY2, tag="backup/2026-11-28")

    parents = _git(git_remote, "ls-remote", git_remote, "refs/heads/main").split()[0]
    assert parents == result.merged_main != result.head
    files = clone(git_remote, tmp_path / "clone")
    assert files == {**workspace.expected_tree(), "docs/NOTES.md": b"hand-written\n"}
    merge_parents = _git(git_remote, "-C", str(tmp_path / "clone"), "log", "-1", "--format=%P").split()
    assert merge_parents[1] == result.head
    backup = clone(git_remote, tmp_path / "backup", branch="backup/daily")
    assert backup == workspace.expected_tree()


def test_main_that_people_touch_keeps_their_files_and_gets_the_backup_back(
    engine, workspace, git_remote, tmp_path
):
    """People's files survive; a hand-deleted notebook comes back; main's manifest is the backup's,
    whatever people wrote into it (an extra line naming their file, or a malformed line)."""
    _initial(engine, workspace)
    paths = _paths(120)
    tree = workspace.expected_tree()
    human = tmp_path / "human"
    bad_manifest = tree[MANIFEST_PATH] + b'{"repo_path": "docs/NOTES.md", broken\n'
    push_commit(git_remote, human, "main", {"docs/NOTES.md": b"ours\n", MANIFEST_PATH: bad_manifest}, "notes")
    git = ["git", "-C", str(human), "-c", "user.name=H", "-c", "user.email=h@x"]
    subprocess.run([*git, "rm", "-q", paths[3]], check=True)
    subprocess.run([*git, "commit", "-qm", "a notebook deleted by hand"], check=True)
    subprocess.run([*git, "push", "-q", "origin", "HEAD:main"], env=auth_env(git_remote), check=True)

    nothing = workspace.apply(engine, ChangeSet([]), DAY2)  # no new backup commit, main reconciled
    assert not nothing.changed and nothing.merged_main
    assert clone(git_remote, tmp_path / "c1") == {**workspace.expected_tree(), "docs/NOTES.md": b"ours\n"}

    result = workspace.apply(engine, ChangeSet([], [workspace.delete(paths[4])]), DAY3)
    assert result.changed
    assert clone(git_remote, tmp_path / "c2") == {**workspace.expected_tree(), "docs/NOTES.md": b"ours\n"}
    again = workspace.apply(engine, ChangeSet([]), DAY3)
    assert again.merged_main == result.merged_main  # nothing left to reconcile: no new commit


def test_rejected_push_is_rebuilt_on_the_new_tip(engine, workspace, git_remote, tmp_path, monkeypatch):
    _initial(engine, workspace)
    push = engine.mirror.push
    raced = []

    def colleague_pushes_first(new, ref, old, **kwargs):
        if not raced and ref == "refs/heads/backup/daily":
            raced.append(
                push_commit(git_remote, tmp_path / "colleague", "backup/daily", {"NOTE.md": b"hi\n"}, "x")
            )
        return push(new, ref, old, **kwargs)

    monkeypatch.setattr(engine.mirror, "push", colleague_pushes_first)
    result = workspace.apply(engine, ChangeSet([workspace.write("2026/E/NOTEBOOKS/a.py")]), DAY2)

    assert raced and len(result.commits) == 1
    assert clone(git_remote, tmp_path / "clone") == {**workspace.expected_tree(), "NOTE.md": b"hi\n"}


@pytest.fixture
def limited_remote(tmp_path):
    """A server refusing pushes above 200,000 bytes, and the URL of an empty repository on it."""
    with GitServer(tmp_path / "srv", token=GIT_TOKEN, max_push_bytes=200_000) as server:
        server.create_repo("r.git")
        yield server, server.url_for("r.git")


def _limited_engine(url: str, tmp_path) -> SnapshotEngine:
    return SnapshotEngine(url, auth=GitAuth.bearer(lambda: GIT_TOKEN, "test"), cache_dir=tmp_path / "cache")


def _assert_consistent(url: str, clone_dir, commits: list[str]) -> None:
    """Every commit's manifest describes exactly its own tree."""
    for commit in commits:
        listed = _git(url, "-C", str(clone_dir), "ls-tree", "-r", "--name-only", commit).split()
        shown = _git(url, "-C", str(clone_dir), "show", f"{commit}:{MANIFEST_PATH}")
        manifest = load_manifest(shown.encode())
        assert sorted(manifest) == [p for p in listed if p != MANIFEST_PATH and p not in repo_files.FILES]


@pytest.mark.parametrize(
    ("batch_size", "commits", "branch_pushes"),
    [(20, 8, 8), (5, 30, 10)],  # 8 commits each above the budget: one push each; 30 small: ~3 a push
)
def test_commits_are_grouped_into_pushes_under_the_push_limit(
    limited_remote, tmp_path, workspace, batch_size, commits, branch_pushes
):
    server, url = limited_remote
    engine = _limited_engine(url, tmp_path)
    upserts = [workspace.write(p, size=8000) for p in _paths(150)]  # 1.2 MB of incompressible content

    result = workspace.apply(engine, ChangeSet(upserts), DAY1, batch_size=batch_size, push_bytes=150_000)

    assert len(result.commits) == commits
    assert all(p.status == 200 and p.bytes <= 200_000 for p in server.push_log)
    assert len(server.push_log) == branch_pushes + 1  # then main
    assert set(result.seconds) == {"build", "push", "repack"}
    dest = tmp_path / "clone"
    assert clone(url, dest) == workspace.expected_tree()
    _assert_consistent(url, dest, result.commits)


def test_a_run_that_dies_between_pushes_leaves_a_consistent_prefix_and_a_rerun_completes_it(
    limited_remote, tmp_path, workspace, monkeypatch
):
    server, url = limited_remote
    engine = _limited_engine(url, tmp_path)
    changes = ChangeSet([workspace.write(p, size=8000) for p in _paths(150)])
    push = engine.mirror.push

    def dies_on_the_third_push(*args, **kwargs):
        if len(server.push_log) == 2:
            raise KeyboardInterrupt("worker killed")
        return push(*args, **kwargs)

    monkeypatch.setattr(engine.mirror, "push", dies_on_the_third_push)
    with pytest.raises(KeyboardInterrupt):
        workspace.apply(engine, changes, DAY1, batch_size=5, push_bytes=150_000)
    prefix = _git(url, "ls-remote", url, "refs/heads/backup/daily").split()[0]
    dest = tmp_path / "prefix"
    subprocess.run(["git", "clone", "-q", "--bare", url, str(dest)], env=auth_env(url), check=True)
    pushed = _git(url, "-C", str(dest), "rev-list", "--reverse", prefix).split()
    assert 0 < len(pushed) < 30 and _git(url, "ls-remote", url, "refs/heads/main") == ""
    _assert_consistent(url, dest, pushed)

    again = workspace.apply(  # the same cache: the mirror holds the unpushed objects
        _limited_engine(url, tmp_path), changes, DAY1, batch_size=5, push_bytes=150_000
    )

    assert again.previous_head == prefix and len(pushed) + len(again.commits) == 30
    assert all(p.status == 200 and p.bytes <= 200_000 for p in server.push_log)
    dest = tmp_path / "clone"
    assert clone(url, dest) == workspace.expected_tree()
    history = _git(url, "-C", str(dest), "log", "--format=", "--name-status", "main").split("\n")
    added = [line.split("\t")[1] for line in history if line.startswith("A\t")]
    # each added exactly once
    assert sorted(added) == sorted([*workspace.content, MANIFEST_PATH, *repo_files.FILES])
    _assert_consistent(url, dest, [*pushed, *again.commits])


def test_an_import_is_packs_without_auto_gc_and_a_large_one_is_repacked(engine, workspace, monkeypatch):
    repacks, bulk = [], []
    monkeypatch.setattr(engine.mirror, "repack", lambda full=False: repacks.append(full))
    push = engine.mirror.push

    def recorded(*args, **kwargs):
        bulk.append(kwargs.get("bulk"))
        return push(*args, **kwargs)

    monkeypatch.setattr(engine.mirror, "push", recorded)
    monkeypatch.setattr("airflow_gitsync.git.publish.LARGE_IMPORT_BLOBS", 100)
    _initial(engine, workspace)
    stats = dict(line.split(": ") for line in engine.mirror.git.text("count-objects", "-v").splitlines())
    # pushed from the staged pack and the commits' pack
    assert stats["count"] == "0" and stats["packs"] == "2"
    assert engine.mirror.git.text("config", "gc.auto") == "0"
    workspace.apply(engine, ChangeSet([workspace.write("2024/x/NOTEBOOKS/late.py")]), DAY2)
    assert repacks == [True, False]  # 120 blobs, then 1
    assert bulk == [True, True, False, False]  # sent as stored (branch, then main + tag), then searched


def test_each_manifest_after_the_first_is_stored_as_a_delta(engine, workspace):
    built = _initial(engine, workspace, batch_size=10, dry_run=True)
    query = "".join(f"{commit}:{MANIFEST_PATH}\n" for commit in built.commits).encode()
    bases = engine.mirror.git.text("cat-file", "--batch-check=%(deltabase)", input=query).split()
    assert len(bases) == 12 and bases[0] == "0" * 40 and "0" * 40 not in bases[1:]


def test_wrong_credentials_fail_at_once_naming_the_remote(git_remote, tmp_path):
    engine = SnapshotEngine(git_remote, auth=GitAuth.basic("backup", "wrong-pat"), cache_dir=tmp_path / "c")
    with pytest.raises(GitAuthError, match=f"authentication failed for {git_remote}") as error:
        engine.sync()
    assert "wrong-pat" not in str(error.value) and "PAT" in str(error.value)


def test_empty_remote_without_changes_gets_a_root_commit(engine, workspace, git_remote, tmp_path):
    result = workspace.apply(engine, ChangeSet([]), DAY1, tag="backup/2026-11-27")
    assert len(result.commits) == 1 and result.tag_created
    assert clone(git_remote, tmp_path / "clone") == {MANIFEST_PATH: b"", **repo_files.FILES}


def test_the_repository_describes_itself_and_heals_those_files(engine, workspace, git_remote, tmp_path):
    """.gitattributes (* -text) and README.md at the root are the backup's, rewritten when changed."""
    _initial(engine, workspace)
    assert b"* -text" in repo_files.GITATTRIBUTES and set(repo_files.FILES) == layout.OWNED_ROOT_FILES
    push_commit(git_remote, tmp_path / "human", "backup/daily", {".gitattributes": b"* text eol=crlf\n"}, "x")
    result = workspace.apply(engine, ChangeSet([]), DAY2)
    assert result.changed
    assert clone(git_remote, tmp_path / "clone", branch="backup/daily") == workspace.expected_tree()


def test_dry_run_pushes_nothing(engine, workspace, git_server):
    result = _initial(engine, workspace, dry_run=True, tag="backup/2026-11-27")
    assert len(result.commits) == 1 and not result.tag_created and git_server.push_log == []


@pytest.mark.parametrize(
    "path",
    ["/abs.py", "a/../b.py", "a/.git/config", "a/.GIT/x", "a\0b", "a\nb", "a//b", ".gitsync/manifest.jsonl"],
)
def test_unsafe_repo_paths_are_refused(engine, workspace, path):
    entry = workspace.write("ok.py")
    bad = ManifestEntry(path, "/x", 1, "NOTEBOOK", None, None, entry.blob_id)
    with pytest.raises(ValueError, match="unsafe path"):
        workspace.apply(engine, ChangeSet([bad]), DAY1)
    with pytest.raises(ValueError, match="unsafe path"):
        workspace.apply(engine, ChangeSet([], [path]), DAY1)


def test_a_commit_waits_while_another_process_holds_the_mirror(engine, workspace, tmp_path):
    """A restore holds the mirror from its sync to its last blob read; a backup commit waits for it."""
    _initial(engine, workspace)
    restore_side = Mirror(
        engine.mirror.path, engine.remote_url, GitAuth.basic(GIT_USER, GIT_TOKEN), logging.getLogger("t")
    )
    changes = ChangeSet([workspace.write(_paths(1)[0])], [])
    committed = threading.Event()

    def commit() -> None:
        workspace.apply(engine, changes, DAY2)
        committed.set()

    with restore_side.lock("a restore"):
        with restore_side.lock("the same restore, again"):  # re-entrant
            restore_side.sync()
        thread = threading.Thread(target=commit)
        thread.start()
        assert not committed.wait(1.5), "the commit ran while the restore held the mirror"
        lock_file = engine.mirror.path.with_name(engine.mirror.path.name + ".lock")
        assert lock_file.read_text().startswith("a restore (pid ")
        with restore_side.blob_reader() as read_blob:
            assert read_blob(workspace.entries[_paths(2)[1]].blob_id) == workspace.content[_paths(2)[1]]
    thread.join(timeout=60)
    assert committed.is_set()
    assert load_manifest(engine.manifest_file()) == workspace.entries


def test_a_cold_worker_clones_without_blobs_and_commits_fetching_only_the_manifest(
    engine, workspace, git_remote, tmp_path
):
    """A new pod or VM has no mirror: it fetches commits and trees, and of the blobs only the manifest it
    reads; the run's own blobs come from its packs. Not one historical notebook is fetched."""
    _initial(engine, workspace, count=120)
    cold = SnapshotEngine(git_remote, auth=GitAuth.basic(GIT_USER, GIT_TOKEN), cache_dir=tmp_path / "new-pod")
    changes = ChangeSet([workspace.write(p) for p in _paths(120)[:3]], [workspace.delete(_paths(120)[3])])
    workspace.written = [workspace.content[c.repo_path] for c in changes.upserts]  # today's pack only

    result = workspace.apply(cold, changes, DAY2, tag="backup/2026-11-28")

    assert cold.mirror.partial and result.changed and len(result.commits) == 1
    assert clone(git_remote, tmp_path / "clone") == workspace.expected_tree()
    listing = cold.mirror.git.text("rev-list", "--objects", "--all", "--missing=print").splitlines()
    missing = {line[1:] for line in listing if line.startswith("?")}
    notebooks = {e.blob_id for e in workspace.entries.values()} - {c.blob_id for c in changes.upserts}
    assert notebooks and notebooks <= missing, "a historical notebook was fetched"
    manifest = cold.mirror.ls_tree(result.previous_head, [MANIFEST_PATH])[MANIFEST_PATH][1]
    assert manifest not in missing


def test_a_small_edit_after_a_full_repack_is_pushed_as_a_delta(engine, workspace, monkeypatch):
    """A full repack wrote a pack bitmap, and with it git's push sent every edited notebook whole:
    12x the bytes of a daily push (benchmarks/growth.py at 7,000)."""
    monkeypatch.setattr("airflow_gitsync.git.publish.LARGE_IMPORT_BLOBS", 100)
    notebooks = {p: workspace.rng.randbytes(40_000) for p in _paths(120)}  # incompressible
    workspace.apply(engine, ChangeSet([workspace.write(p, c) for p, c in notebooks.items()], []), DAY1)
    assert not list(engine.mirror.path.glob("objects/pack/*.bitmap"))  # the full repack wrote none
    edited = [workspace.write(p, c + b"\nprint('one more line')\n") for p, c in list(notebooks.items())[:10]]
    daily = workspace.apply(engine, ChangeSet(edited, []), DAY2)
    assert daily.pushed_bytes < 40_000  # ten notebooks of 40 kB sent whole would be 400 kB
