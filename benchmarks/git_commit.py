"""Benchmark: committing 70,000 notebooks, then 3,500 changes, three ways, on the same data.

- ``engine``: what the commit task does. Untimed, the day's content is staged as export tasks stage
  it, one pack per engagement group of :data:`PACK_NOTEBOOKS`; timed, the packs are gathered into a
  bare mirror (:func:`~airflow_gitsync.gather.gather`) and :class:`SnapshotEngine` commits *and*
  pushes to the local authenticated git server: commits of the default batch size (5,000 files),
  grouped into pushes of at most 256 MiB of new objects (the default ``push_bytes``); its gather,
  build, push and repack phases are reported separately;
- ``engine-cold`` (daily run only): the same on a worker that starts cold, with no mirror: a blobless
  clone (commits and trees) before it gathers; its mirror's size after that fetch is reported;
- ``worktree``: the files in a working tree, ``git add -A && git commit``, then ``git push``;
- ``gitpython``: GitPython's ``repo.index.add`` + ``index.commit`` (initial: a subset, extrapolated).

Each variant runs in its own subprocess, which reports its wall time and peak RSS (its own and that
of the git processes it waited for, ``getrusage``). Run from the checkout root:

    .venv/bin/python benchmarks/git_commit.py [--files 70000] [--changes 3500] [--workdir .bench/git_commit]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from scan_export import peak_rss_mib

from airflow_gitsync.gather import gather
from airflow_gitsync.git.auth import GitAuth
from airflow_gitsync.git.packs import PackWriter
from airflow_gitsync.git.snapshot import ChangeSet, CommitInfo, SnapshotEngine
from airflow_gitsync.manifest import ManifestEntry
from airflow_gitsync.results import ExportTaskResult, from_xcom, to_xcom
from airflow_gitsync.staging import StagingStore
from airflow_gitsync.workspace.export import ExportResult
from gitsync_devkit.git_server import GitServer

TOKEN = "bench-token"
DAYS = {
    "initial": CommitInfo("bench__initial", "2026-11-27T00:00:00+00:00", "2026-11-27T02:00:00+00:00"),
    "incremental": CommitInfo("bench__incremental", "2026-11-28T00:00:00+00:00", "2026-11-28T02:00:00+00:00"),
}
GIT_ID = ["-c", "user.name=bench", "-c", "user.email=bench@localhost"]
PACK_NOTEBOOKS = 500  # notebooks per staged pack: about what one export task exports in a full sync


def path_of(i: int) -> str:
    return f"{2019 + i % 8}/ENG-{i % 1500:04d}/NOTEBOOKS/notebook_{i:06d}.py"


def content_of(i: int, version: int = 0) -> bytes:
    """~8 KB of deterministic notebook-like text (hex noise: compresses about 2:1, like source)."""
    noise = random.Random(i * 7919 + version).randbytes(4080).hex()
    return f"# Databricks notebook source\n# notebook {i} v{version}\n{noise}\n".encode()


def day_files(day: str, files: int, changes: int) -> Iterator[tuple[str, bytes | None]]:
    """The day's files: all of them initially; then ~86% modified, ~9% added, ~6% deleted."""
    if day == "initial":
        yield from ((path_of(i), content_of(i)) for i in range(files))
        return
    added, deleted = changes * 9 // 100, changes * 6 // 100
    step = files // (changes - added - deleted)
    yield from ((path_of(i), content_of(i, 1)) for i in range(0, files, step)[: changes - added - deleted])
    yield from ((path_of(files + i), content_of(files + i)) for i in range(added))
    yield from ((path_of(i), None) for i in range(1, files, step)[:deleted])


def _entry(path: str, blob_id: str) -> ManifestEntry:
    return ManifestEntry(path, "/Clients/" + path[:-3], int(path[-9:-3]), "NOTEBOOK", "PYTHON", 1, blob_id)


def _git(cwd: Path, *args: str, env: dict | None = None) -> None:
    subprocess.run(["git", *GIT_ID, *args], cwd=cwd, check=True, capture_output=True, env=env)


def prepare(day: str, args: argparse.Namespace) -> None:
    """Untimed: put the day's content into staging and into the two working trees."""
    staging = StagingStore(args.workdir / "staging")
    for variant in ("worktree", "gitpython"):
        tree = args.workdir / variant
        if day == "initial":
            shutil.rmtree(tree, ignore_errors=True)
            subprocess.run(["git", "init", "-q", "-b", "main", str(tree)], check=True)
        limit = args.gitpython_subset if variant == "gitpython" and day == "initial" else None
        for n, (path, content) in enumerate(day_files(day, args.files, args.changes)):
            if limit is not None and n >= limit:
                break
            target = tree / path
            if content is None:
                target.unlink(missing_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
    upserts = [(p, c) for p, c in day_files(day, args.files, args.changes) if c is not None]
    tasks = []
    for first in range(0, len(upserts), PACK_NOTEBOOKS):
        with PackWriter() as pack:
            entries = [
                _entry(path, pack.put(content)) for path, content in upserts[first : first + PACK_NOTEBOOKS]
            ]
            name = staging.put_pack(pack.finish())
        export = ExportResult(f"group {first}", entries)
        tasks.append(ExportTaskResult([export], {}, None, f"export[group {first}]", name))
    deletions = [path for path, content in day_files(day, args.files, args.changes) if content is None]
    tasks.append(ExportTaskResult([ExportResult("deletions", deletions=deletions)], {}, None, "scan"))
    (args.workdir / f"tasks-{day}.json").write_text(json.dumps(to_xcom(tasks)))


def run_engine(day: str, args: argparse.Namespace, cold: bool = False) -> dict:
    staging = StagingStore(args.workdir / "staging")
    tasks = from_xcom(list[ExportTaskResult], json.loads((args.workdir / f"tasks-{day}.json").read_text()))
    args.log = args.workdir / f"engine-{day}.log"
    logger = logging.getLogger("bench.engine")
    logger.addHandler(logging.FileHandler(args.log, mode="w"))
    logger.setLevel(logging.INFO)
    cache = args.workdir / (f"cache-cold-{day}" if cold else "cache")
    remote = args.cold_remote if cold else args.remote
    engine = SnapshotEngine(remote, auth=GitAuth.basic("bench", TOKEN), cache_dir=cache, logger=logger)
    start = time.perf_counter()
    engine.sync()
    synced = {
        "mirror_after_sync_mib": engine.mirror.size_bytes() / 2**20,
        "partial_mirror": engine.mirror.partial,
    }
    gathered = gather(engine.mirror, staging, tasks, logger)
    gathered_at = time.perf_counter()
    assert not gathered.failures, gathered.failures
    upserts = [u for e in gathered.exports for u in e.upserts]
    deletions = [path for e in gathered.exports for path in e.deletions]
    result = engine.apply(ChangeSet(upserts, deletions), DAYS[day], tag=f"backup/{day}")
    return synced | {
        "seconds": time.perf_counter() - start,
        "phases": {"gather": gathered_at - start, **result.seconds},
        "packs": gathered.packs,
        "commits": len(result.commits),
        "pushes": sum(1 for line in args.log.read_text().splitlines() if "git push:" in line),
        "pushed": result.pushed_bytes,
    }


def run_worktree(day: str, args: argparse.Namespace) -> dict:
    tree = args.workdir / "worktree"
    start = time.perf_counter()
    _git(tree, "add", "-A")
    _git(tree, "commit", "-q", "-m", f"backup {day}")
    committed = time.perf_counter()
    with GitAuth.basic("bench", TOKEN).env(args.worktree_remote) as auth_env:
        _git(tree, "push", "-q", args.worktree_remote, "HEAD:refs/heads/main", env={**os.environ, **auth_env})
    return {"seconds": time.perf_counter() - start, "commit_seconds": committed - start}


def run_gitpython(day: str, args: argparse.Namespace) -> dict:
    import git

    repo = git.Repo(args.workdir / "gitpython")
    paths = [p for p, c in day_files(day, args.files, args.changes) if c is not None]
    removed = [p for p, c in day_files(day, args.files, args.changes) if c is None]
    if day == "initial":
        paths = paths[: args.gitpython_subset]
    start = time.perf_counter()
    repo.index.add(paths)
    if removed:
        repo.index.remove(removed)
    repo.index.commit(f"backup {day}")
    seconds = time.perf_counter() - start
    factor = args.files / len(paths) if day == "initial" else 1
    return {"seconds": seconds * factor, "measured_files": len(paths), "extrapolated": factor != 1}


def run_engine_cold(day: str, args: argparse.Namespace) -> dict:
    """The engine on a worker that starts cold (a new pod or VM): no mirror, so a blobless clone first."""
    return run_engine(day, args, cold=True)


VARIANTS = {
    "engine": run_engine,
    "engine-cold": run_engine_cold,
    "worktree": run_worktree,
    "gitpython": run_gitpython,
}


def child(args: argparse.Namespace) -> None:
    report = VARIANTS[args.variant](args.day, args)
    # VmHWM, not getrusage: Linux keeps the parent's peak in a child's ru_maxrss across exec, so the
    # latter would report the benchmark's own peak (it holds a day's content while preparing).
    own = peak_rss_mib(os.getpid())
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps({**report, "peak_rss_mb": max(own, children), "python_rss_mb": own}))


def measure(variant: str, day: str, args: argparse.Namespace, extra: list[str]) -> dict:
    cmd = [sys.executable, __file__, "--variant", variant, "--day", day, *extra]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=70_000)
    parser.add_argument("--changes", type=int, default=3_500)
    parser.add_argument("--gitpython-subset", type=int, default=7_000)
    parser.add_argument("--workdir", type=Path, default=Path(".bench/git_commit"))
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument("--variant", choices=VARIANTS)
    parser.add_argument("--day", choices=DAYS)
    parser.add_argument("--remote")
    parser.add_argument("--worktree-remote")
    parser.add_argument("--cold-remote")
    args = parser.parse_args()
    if args.variant:
        child(args)
        return
    shutil.rmtree(args.workdir, ignore_errors=True)
    args.workdir.mkdir(parents=True)
    with GitServer(args.workdir / "server", user="bench", token=TOKEN) as server:
        server.create_repo("engine.git")
        server.create_repo("worktree.git")
        remotes = [
            "--remote", server.url_for("engine.git"),
            "--worktree-remote", server.url_for("worktree.git"),
            "--cold-remote", server.url_for("engine-cold.git"),
        ]  # fmt: skip
        common = ["--files", str(args.files), "--changes", str(args.changes), "--workdir", str(args.workdir),
                  "--gitpython-subset", str(args.gitpython_subset), *remotes]  # fmt: skip
        rows = []
        for day in DAYS:
            start = time.perf_counter()
            prepare(day, args)
            if day != "initial":  # the cold worker commits the same day onto the same history
                shutil.copytree(server.root / "engine.git", server.root / "engine-cold.git")
            print(f"prepared {day} in {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
            for variant in args.variants:
                if variant == "engine-cold" and day == "initial":
                    continue  # a first sync has no history to leave out
                result = measure(variant, day, args, common)
                rows.append((day, variant, result))
                print(day, variant, json.dumps(result), file=sys.stderr, flush=True)
    print(table(rows))


def table(rows: list[tuple[str, str, dict]]) -> str:
    lines = ["| run | variant | wall s | vs engine | peak RSS MB | notes |", "|---|---|---|---|---|---|"]
    engine = {day: r["seconds"] for day, v, r in rows if v == "engine"}
    for day, variant, r in rows:
        notes = []
        if "commit_seconds" in r:
            notes.append(f"add+commit {r['commit_seconds']:.1f} s, then push over HTTP")
        if r.get("extrapolated"):
            notes.append(f"measured {r['measured_files']:,} files, extrapolated linearly")
        if "partial_mirror" in r:
            kind = "blobless" if r["partial_mirror"] else "whole"
            notes.append(f"{kind} mirror, {r['mirror_after_sync_mib']:.0f} MiB after its fetch")
        if "commits" in r:
            phases = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in r["phases"].items())
            notes.append(
                f"{r['packs']} staged packs; {r['commits']} commit(s) in {r['pushes']} push(es) "
                "incl. main/tag, "
                f"pushed {r['pushed'] / 2**20:.0f} MiB over HTTP; {phases}"
            )
        ratio = r["seconds"] / engine[day]
        lines.append(f"| {day} | {variant} | {r['seconds']:.1f} | {ratio:.2f}x | {r['peak_rss_mb']:.0f} | "
                     f"{'; '.join(notes)} |")  # fmt: skip
    return "\n".join(lines)


if __name__ == "__main__":
    main()
