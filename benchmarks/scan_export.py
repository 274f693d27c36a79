"""Scan and export a generated workspace against the emulator at the published rate limits.

The emulator runs in its own process (``python -m gitsync_devkit.emulator``),
so its CPU does not count against the client's. Prints the achieved export rate against the
configured limit (target >= 0.9), the 429s received, the wall time and the peak RSS of both sides.

    .venv/bin/python benchmarks/scan_export.py [--notebooks 7000] [--export-rps 60] [--list-rps 50]
        [--latency-ms 50] [--max-workers 16] [--parallel-engagements 2]
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from stack import start_emulator as start_process

from airflow_gitsync.git.packs import PackWriter
from airflow_gitsync.results import peak_rss_bytes
from airflow_gitsync.workspace.client import WorkspaceClient
from airflow_gitsync.workspace.export import export_engagement
from airflow_gitsync.workspace.scan import list_years, scan_year

ROOT = "/Clients"
TOKEN = "dapi-bench"


def start_emulator(args: argparse.Namespace, workdir: Path) -> tuple[subprocess.Popen, str]:
    return start_process([
        "--generate", str(args.notebooks), "--export-rps", str(args.export_rps),
        "--list-rps", str(args.list_rps), "--latency-ms", str(args.latency_ms),
        "--port", "0", "--token", TOKEN, "--seed", "7",
    ], workdir)  # fmt: skip


def peak_rss_mib(pid: int | None = None) -> float:
    return peak_rss_bytes("self" if pid is None else pid) / (1 << 20)


def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="gitsync-bench-") as tmp:
        process, url = start_emulator(args, Path(tmp))
        try:
            rates = {"export": args.export_rps, "list": args.list_rps}
            with WorkspaceClient(url, lambda: TOKEN, rates=rates, max_workers=args.max_workers) as client:
                pack = PackWriter(tmp)
                started = time.monotonic()
                scans = [scan_year(client, ROOT, year, {})[0] for year in list_years(client, ROOT)]
                scanned = time.monotonic()
                engagements = [e for s in scans for e in s.engagements]
                with ThreadPoolExecutor(args.parallel_engagements) as pool:
                    results = list(pool.map(lambda e: export_engagement(client, e, pack), engagements))
                pack.finish()
                pack.close()
                finished = time.monotonic()
                stats = client.stats()
            emulator_rss = peak_rss_mib(process.pid)
        finally:
            process.terminate()
            process.wait(timeout=30)

    exported = sum(len(r.upserts) for r in results)
    failed = sum(len(r.failed) for r in results)
    scan_seconds, export_seconds = scanned - started, finished - scanned
    export, listing = stats["export"], stats["list"]
    call_rate = export["calls"] / export_seconds
    rows = [
        ("notebooks generated", f"{args.notebooks:,}"),
        (
            "scan: folders listed",
            f"{listing['calls']:,} in {scan_seconds:.1f}s = {listing['calls'] / scan_seconds:.1f}/s",
        ),
        ("export: objects staged", f"{exported:,} ({failed} failed) from {len(engagements)} engagements"),
        ("export: objects/s", f"{exported / export_seconds:.1f}"),
        ("export: calls", f"{export['calls']:,} in {export_seconds:.1f}s"),
        (
            "export rate / limit",
            f"{call_rate:.1f}/s / {args.export_rps:g}/s = {call_rate / args.export_rps:.3f}",
        ),
        ("429s received", f"export {export['http_429']}, list {listing['http_429']}"),
        ("retries", f"export {export['retries']}, list {listing['retries']}"),
        ("wall time (scan + export)", f"{finished - started:.1f}s"),
        ("peak RSS", f"client {peak_rss_mib():.0f} MiB, emulator {emulator_rss:.0f} MiB"),
    ]
    for label, value in rows:
        print(f"{label:<28}{value}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--notebooks", type=int, default=7000)
    parser.add_argument("--export-rps", type=float, default=60)
    parser.add_argument("--list-rps", type=float, default=50)
    parser.add_argument("--latency-ms", type=float, default=50)
    parser.add_argument("--max-workers", type=int, default=16)
    parser.add_argument("--parallel-engagements", type=int, default=2, help="export tasks at once")
    run(parser.parse_args())


if __name__ == "__main__":
    main()
