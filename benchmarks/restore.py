"""Restore 7,000 generated notebooks and files into a new root against the emulator at the published
import limit, with the default ``[gitsync]`` settings; print the import rate against the limit.

The emulator runs in its own process (export 60/s, list 50/s, import 30/s, 50 ms per request, seed 7).
The backup to restore is built without Airflow: the workspace's content is staged and committed with the
snapshot engine into a local bare repository, tagged ``backup/bench``. Each repetition then runs what
the restore task runs (mirror lock, sync, plan, :func:`airflow_gitsync.restore.restore`) into
``/Restored/<n>`` and checks the restored tree is byte-identical to the original. Target: >= 0.9.

    .venv/bin/python benchmarks/restore.py [--notebooks 7000] [--repeat 3] [--import-rps 30]
        [--latency-ms 50]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from scan_export import peak_rss_mib
from stack import EXPORT_LIMIT, ROOT, TOKEN, Emulator, emulator_args
from stack import start_emulator as start_process

from airflow_gitsync.config import GitsyncConfig
from airflow_gitsync.git.commit_plan import ChangeSet, CommitInfo
from airflow_gitsync.git.packs import PackWriter
from airflow_gitsync.git.snapshot import SnapshotEngine
from airflow_gitsync.layout import to_repo_path
from airflow_gitsync.manifest import ManifestEntry
from airflow_gitsync.restore import plan_restore, restore
from airflow_gitsync.workspace.client import WorkspaceClient

TAG = "backup/bench"


def start_emulator(args: argparse.Namespace, workdir: Path) -> tuple[subprocess.Popen, Emulator]:
    rates = {"export": 60.0, "list": 50.0}
    command = emulator_args(args.notebooks, rates, args.latency_ms, "127.0.0.1", 0)
    process, url = start_process([*command, "--import-rps", str(args.import_rps)], workdir)
    return process, Emulator(url)


def build_backup(emulator: Emulator, workdir: Path) -> tuple[str, int]:
    """Commit the workspace's notebooks and files (those under the export limit) into a local bare
    repository, tagged :data:`TAG`; returns its URL and the number of objects."""
    content = emulator.snapshot(ROOT)
    pack = PackWriter()
    entries = [
        ManifestEntry(
            repo_path=to_repo_path(ROOT, o["path"], o["object_type"], o.get("language")),
            workspace_path=o["path"],
            object_id=o["object_id"],
            object_type=o["object_type"],
            language=o.get("language"),
            modified_at=o.get("modified_at"),
            blob_id=pack.put(content[o["path"]]),
        )
        for o in emulator.control("objects")["objects"]
        if o["object_type"] in ("NOTEBOOK", "FILE") and len(content[o["path"]]) <= EXPORT_LIMIT
    ]
    remote = workdir / "backup.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    engine = SnapshotEngine(str(remote), cache_dir=workdir / "build-cache")
    engine.sync()
    with pack:
        engine.mirror.index_pack(pack.finish())
    info = CommitInfo("bench", "2026-11-02T00:00:00+00:00", "2026-11-02T02:00:00+00:00")
    engine.apply(ChangeSet(entries, []), info, batch_size=100_000, tag=TAG)
    return str(remote), len(entries)


def run(args: argparse.Namespace) -> None:
    config = GitsyncConfig.load(get=lambda section, key, fallback: fallback, airflow_home=lambda: "/tmp")
    rows: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="gitsync-restore-bench-") as tmp:
        workdir = Path(tmp)
        process, emulator = start_emulator(args, workdir)
        try:
            remote, objects = build_backup(emulator, workdir)
            original = {
                path: data for path, data in emulator.snapshot(ROOT).items() if len(data) <= EXPORT_LIMIT
            }
            engine = SnapshotEngine(remote, cache_dir=workdir / "mirrors")  # the restore task's mirror
            mirror = engine.mirror
            for number in range(1, args.repeat + 1):
                target = f"/Restored/{number}"
                emulator.reset_counters()
                started = time.monotonic()
                with mirror.lock("a restore"):
                    mirror.sync()
                    plan = plan_restore(mirror, TAG, target_root=target)
                    options = config.client_options() | {"limiter_dir": workdir / f"ratelimit-{number}"}
                    with WorkspaceClient(emulator.url, lambda: TOKEN, **options) as client:
                        result = restore(client, mirror, plan)
                        stats = client.stats()
                seconds = time.monotonic() - started
                restored = emulator.snapshot(target)
                identical = restored == {target + p.removeprefix(ROOT): d for p, d in original.items()}
                counted = emulator.counters()["import"]
                rows.append(
                    {
                        "seconds": seconds,
                        "restored": result.restored,
                        "failed": len(result.failed),
                        "rate": counted["ok"] / seconds,
                        "429": stats["import"]["http_429"],
                        "folders": stats["other"]["calls"],
                        "identical": identical,
                    }
                )
                print(
                    f"run {number}: {result.restored:,} restored, {len(result.failed)} failed, "
                    f"{counted['ok']:,} imports in {seconds:.1f} s = {counted['ok'] / seconds:.1f}/s "
                    f"({counted['ok'] / seconds / args.import_rps:.3f} of the limit), "
                    f"{stats['import']['http_429']:.0f} 429s, {stats['other']['calls']:.0f} mkdirs, "
                    f"byte-identical: {identical}",
                    flush=True,
                )
            emulator_rss = peak_rss_mib(process.pid)
        finally:
            process.terminate()
            process.wait(timeout=30)

    rate = statistics.median(r["rate"] for r in rows)
    print()
    for label, value in [
        ("objects in the backup", f"{objects:,}"),
        ("rates (default settings)", ", ".join(f"{k} {v:g}/s" for k, v in config.rates.items())),
        ("max_workers", str(config.max_workers)),
        ("restore wall time, median", f"{statistics.median(r['seconds'] for r in rows):.1f} s"),
        ("import rate, median", f"{rate:.1f}/s"),
        ("import rate / limit, median", f"{rate / args.import_rps:.3f} (target >= 0.9)"),
        ("429s received", ", ".join(f"{r['429']:.0f}" for r in rows)),
        ("failed", ", ".join(f"{r['failed']:.0f}" for r in rows)),
        ("byte-identical", ", ".join(str(r["identical"]) for r in rows)),
        ("peak RSS", f"restore {peak_rss_mib():.0f} MiB, emulator {emulator_rss:.0f} MiB"),
    ]:
        print(f"{label:<30}{value}")


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--notebooks", type=int, default=7000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--import-rps", type=float, default=30)
    parser.add_argument("--latency-ms", type=float, default=50)
    run(parser.parse_args())


if __name__ == "__main__":
    main()
