"""The history browser at scale: find and a notebook's history on 70,000 notebooks and 400 backups.

Builds a backup repository with ``git fast-import`` (the backup's layout and manifest, one commit and
annotated tag per day on ``backup/daily``; each day modifies ``--changed`` notebooks, adds 20 and
deletes 10), then reads it as the API server does: a blobless mirror of it over ``file://``
(:class:`~airflow_gitsync.ui.browse.BackupRepository`). Times the first sync, the first search
(manifest fetched and indexed; the deleted paths waited for as the API server does, then the rest of
their reading from the log), searches while typing (warm: the median of several fragments), a
notebook's history (cold: its blobs fetched; warm) and a diff.
Prints a markdown section for ``RESULTS.md``; ``--out`` also writes it to a file.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

from airflow_gitsync.blob import git_blob_id
from airflow_gitsync.git.auth import GitAuth
from airflow_gitsync.git.mirror import Mirror
from airflow_gitsync.manifest import MANIFEST_PATH, ManifestEntry
from airflow_gitsync.ui import compare
from airflow_gitsync.ui.browse import FIND_WAIT, BackupRepository

BRANCH = "backup/daily"
IDENT = "airflow-gitsync <gitsync@example.com>"
# Delta chains of at most 50, as git's gc (and a server's repack) leaves them. A blob at the end of a
# longer chain costs the server one delta per link to send to a blobless mirror: with 4,000 (before
# 2026-12-04), the newest manifest cost 20 s and some notebooks' blobs 4.5 s, an artifact of the build.
DELTA_DEPTH = 50


def _content(path: str, version: int) -> bytes:
    return f"# Databricks notebook source\n# {path}\nprint({version})\n".encode()


def _line(path: str, version: int, day: int) -> bytes:
    return (
        ManifestEntry(
            repo_path=path,
            workspace_path=f"/Clients/{path.removesuffix('.py')}",
            object_id=hash(path) % 10**12,
            object_type="NOTEBOOK",
            language="PYTHON",
            modified_at=1_700_000_000_000 + day * 86_400_000,
            blob_id=git_blob_id(_content(path, version)),
        )
        .to_json()
        .encode()
    )


def _days(notebooks: int, days: int, changed: int, seed: int):
    """Per day: the notebooks written (path, version) and the paths deleted, and the manifest."""
    rng = random.Random(seed)
    live = {f"{2020 + n % 6}/ENG-{n // 40:05d}/NOTEBOOKS/nb_{n:06d}.py": 0 for n in range(notebooks)}
    lines = {path: _line(path, 0, 0) for path in live}
    yield list(live.items()), [], lines
    serial = notebooks
    for day in range(1, days):
        paths = list(live)
        written = {path: live[path] + 1 for path in rng.sample(paths, changed)}
        for _ in range(20):
            written[f"{2025 + day // 365}/ENG-N{serial // 40:05d}/NOTEBOOKS/new_{serial:06d}.py"] = 0
            serial += 1
        deleted = [p for p in rng.sample(paths, 10) if p not in written]
        for path in deleted:
            del live[path], lines[path]
        for path, version in written.items():
            live[path] = version
            lines[path] = _line(path, version, day)
        yield list(written.items()), deleted, lines


def build(remote: Path, notebooks: int, days: int, changed: int, seed: int = 7) -> None:
    """The repository: manifests first (each a delta of the one before, as a repack would store
    them, in chains of at most :data:`DELTA_DEPTH`), then each day's notebooks, commit and tag."""
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    for key in ("uploadpack.allowFilter", "uploadpack.allowAnySHA1InWant"):
        subprocess.run(["git", "-C", str(remote), "config", key, "true"], check=True)
    importer = subprocess.Popen(
        ["git", "-C", str(remote), "fast-import", "--quiet", f"--depth={DELTA_DEPTH}"], stdin=subprocess.PIPE
    )
    out = importer.stdin
    first = date(2026, 1, 1) - timedelta(days=days)
    for n, (_, _, lines) in enumerate(_days(notebooks, days, changed, seed)):
        data = b"\n".join(lines[p] for p in sorted(lines)) + b"\n"
        out.write(b"blob\nmark :%d\ndata %d\n" % (n + 1, len(data)) + data + b"\n")
    for n, (written, deleted, _) in enumerate(_days(notebooks, days, changed, seed)):
        when = int(time.mktime((first + timedelta(days=n)).timetuple())) + 7200
        message = f"Backup {first + timedelta(days=n)}\n".encode()
        out.write(f"commit refs/heads/{BRANCH}\ncommitter {IDENT} {when} +0000\n".encode())
        out.write(b"data %d\n%s" % (len(message), message))
        for path in deleted:
            out.write(f"D {path}\n".encode())
        for path, version in written:
            content = _content(path, version)
            out.write(f"M 100644 inline {path}\n".encode() + b"data %d\n" % len(content) + content + b"\n")
        out.write(f"M 100644 :{n + 1} {MANIFEST_PATH}\n\n".encode())
        tag = f"backup/{first + timedelta(days=n)}"
        out.write(f"tag {tag}\nfrom refs/heads/{BRANCH}\ntagger {IDENT} {when} +0000\n".encode())
        out.write(b"data %d\n%s\n" % (len(message), message))
    out.close()
    if importer.wait():
        raise RuntimeError("git fast-import failed")


def _timed(action: Callable[[], object]) -> tuple[float, object]:
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notebooks", type=int, default=70_000)
    parser.add_argument("--days", type=int, default=400)
    parser.add_argument("--changed", type=int, default=3_500, help="notebooks modified a day")
    parser.add_argument("--workdir", type=Path, help="keep the repository here (default: a temp dir)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="history-browser-"))
    remote = work / "remote.git"
    built = 0.0
    if not remote.exists():
        built, _ = _timed(lambda: build(remote, args.notebooks, args.days, args.changed))
    size = sum(f.stat().st_size for f in remote.rglob("*") if f.is_file())
    mirror = Mirror(work / "view.git", f"file://{remote}", GitAuth.none(), logging.getLogger("bench"))
    browser = BackupRepository(mirror, BRANCH, "backup/%Y-%m-%d", 300)
    clone, _ = _timed(browser.refresh)
    first, early = _timed(lambda: browser.find("nb_0123", wait=FIND_WAIT))  # as the API server asks
    reading, _ = _timed(lambda: browser.find("nb_0123"))  # the rest of the deleted paths' reading
    fragments = ["n", "nb_", "ENG-0004", "nb_01234", "new_", "zzz", "2023/eng-01", "NOTEBOOKS/nb_06"]
    warm = [_timed(lambda f=f: browser.find(f))[0] for f in fragments for _ in range(3)]
    gone = browser.find("nb_")
    deleted = sum(1 for _ in browser._gone_paths(browser.refresh()))
    # notebooks of the first backup, each opened once cold (its versions' blobs fetched), then warm
    numbers = (163, args.notebooks // 16, args.notebooks // 4, args.notebooks * 3 // 4, args.notebooks - 999)
    paths = [f"{2020 + n % 6}/ENG-{n // 40:05d}/NOTEBOOKS/nb_{n:06d}.py" for n in numbers]
    colds = [_timed(lambda p=p: browser.history(p)) for p in paths]
    path = paths[0]
    page = colds[0][1]
    hot = [_timed(lambda: browser.history(path))[0] for _ in range(5)]
    versions = page.versions
    diff, _ = _timed(
        lambda: compare.compare(
            browser.read(versions[-1].commit, path), browser.read(versions[0].commit, path)
        )
    )
    index = browser.index(browser.refresh())
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    lines = [
        f"## History browser at {args.notebooks:,} notebooks, {args.days} backups (issue 26)",
        "",
        f"`benchmarks/history_browser.py --notebooks {args.notebooks} --days {args.days} "
        f"--changed {args.changed}`: "
        f"a repository of {args.days} daily backups ({args.changed:,} notebooks modified, 20 added and 10 "
        f"deleted a day; the newest holds {len(index):,}; {size / 2**20:,.0f} MiB on disk"
        f"{f', built in {built:.0f} s' if built else ''}), "
        "read through the API server's blobless mirror over file://. Server time, no HTTP.",
        "",
        "| step | time |",
        "|---|---|",
        f"| first sync of the blobless mirror (commits and trees of every backup) | {clone:.1f} s |",
        f"| first search: newest manifest fetched and indexed, deleted paths waited for {FIND_WAIT} s "
        f"| {first:.2f} s{' (without the deleted paths)' if early.deleted_pending else ''} |",
        f"| the deleted paths' first reading (`git log --diff-filter=D`, in the background), its rest "
        f"| {reading:.2f} s |",
        f"| search while typing (warm, {len(warm)} searches of {len(fragments)} fragments) | median "
        f"{statistics.median(warm) * 1000:.0f} ms, max {max(warm) * 1000:.0f} ms |",
        f"| a notebook's history, first view (its blobs fetched), {len(paths)} notebooks of "
        f"{min(len(p.versions) for _, p in colds)}-{max(len(p.versions) for _, p in colds)} versions "
        f"| median {statistics.median(t for t, _ in colds) * 1000:.0f} ms, "
        f"max {max(t for t, _ in colds) * 1000:.0f} ms |",
        f"| the first one again ({len(versions)} versions), 5 times "
        f"| median {statistics.median(hot) * 1000:.0f} ms |",
        f"| diff of the oldest and newest version on that page (both read from the mirror) "
        f"| {diff * 1000:.0f} ms |",
        "",
        f"`nb_` matches {gone.total:,} paths, of which {deleted:,} deleted since their last backup. "
        f"Load average when measured: {load} ({os.cpu_count()} cores).",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
