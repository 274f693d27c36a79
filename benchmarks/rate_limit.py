"""Does the workspace rate limit hold whatever the executor does? Task processes against the emulator.

Each "task" is a separate process with its own ``WorkspaceClient``, default settings (the published
60 export/s, 16 workers, the limiter shared through ``cache_dir/ratelimit``), exporting notebooks
for a fixed time, as export tasks do. The emulator (its own process) enforces 60 export/s with one
second of burst and answers 429 with ``Retry-After: 1`` beyond it, with 50 ms latency.
Scenarios: one task alone (``airflow dags test``), two (a pool half taken by other DAGs), four
(a scheduler running four at once), and four beside another client of the workspace that takes
30% of the limit with its own, unshared limiter.

Prints, per scenario, our successful exports per second against what the limit leaves us, the
share of our calls answered 429, and the other client's rate.

    .venv/bin/python benchmarks/rate_limit.py [--seconds 30] [--export-rps 60] [--latency-ms 50]
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import tempfile
import time
from pathlib import Path

import requests
from scan_export import TOKEN, start_emulator

from airflow_gitsync.errors import WorkspaceError
from airflow_gitsync.workspace.client import WorkspaceClient

SCENARIOS = {
    "1 task": (1, 0.0),
    "2 tasks": (2, 0.0),
    "4 tasks": (4, 0.0),
    "4 tasks + other client at 30%": (4, 0.3),
}


def _task(url: str, paths: list[str], limiter_dir: str, start: float, seconds: float, out) -> None:
    """Export ``paths`` round and round from ``start`` for ``seconds``; report successes and 429s."""
    client = WorkspaceClient(url, lambda: TOKEN, limiter_dir=Path(limiter_dir), max_retry_seconds=600)
    time.sleep(max(start - time.monotonic(), 0))
    ok = 0
    stop = start + seconds

    def export(path: str) -> bool:
        if time.monotonic() >= stop:
            return False
        client.export(path)
        return True

    while time.monotonic() < stop:
        ok += sum(client.map_concurrent(export, paths))
    stats = client.stats()["export"]
    client.close()
    out.put((ok, stats["calls"], stats["http_429"]))


def _other_client(url: str, paths: list[str], rate: float, start: float, seconds: float, out) -> None:
    """Another client of the workspace at ``rate`` calls/s, blind to ours, retrying its 429s."""
    session = requests.Session()
    time.sleep(max(start - time.monotonic(), 0))
    ok = calls = 0
    next_at = start
    while (now := time.monotonic()) < start + seconds:
        if now < next_at:
            time.sleep(next_at - now)
        response = session.get(
            f"{url}/api/2.0/workspace/export",
            params={"path": paths[calls % len(paths)], "direct_download": "true"},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        calls += 1
        ok += response.ok
        next_at += 1 / rate
    out.put(("other", ok))


def run(url: str, paths: list[str], tasks: int, other: float, args, workdir: Path) -> dict:
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    limiter = tempfile.mkdtemp(dir=workdir)
    start = time.monotonic() + 8  # after every process has imported and connected
    procs = [
        context.Process(target=_task, args=(url, paths, limiter, start, args.seconds, out))
        for _ in range(tasks)
    ]
    if other:
        procs.append(
            context.Process(
                target=_other_client, args=(url, paths, other * args.export_rps, start, args.seconds, out)
            )
        )
    for proc in procs:
        proc.start()
    results = [out.get(timeout=args.seconds + 300) for _ in procs]
    for proc in procs:
        proc.join()
    ours = [r for r in results if r[0] != "other"]
    other_ok = sum(r[1] for r in results if r[0] == "other")
    ok, calls, throttled = (sum(r[i] for r in ours) for i in range(3))
    available = args.export_rps - other_ok / args.seconds
    return {
        "tasks": tasks,
        "ours_per_second": ok / args.seconds,
        "of_available": ok / args.seconds / available,
        "share_429": throttled / calls if calls else 0.0,
        "other_per_second": other_ok / args.seconds,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--export-rps", type=float, default=60.0)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    args.notebooks, args.list_rps = 300, 0.0
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        process, url = start_emulator(args, workdir)
        try:
            objects = requests.get(
                f"{url}/_emulator/objects", headers={"Authorization": f"Bearer {TOKEN}"}
            ).json()["objects"]
            paths = [o["path"] for o in objects if o["object_type"] == "NOTEBOOK" and o["size"] < 1_000_000]
            print(
                f"export limit {args.export_rps:g}/s, {args.latency_ms:g} ms latency, "
                f"{args.seconds:g} s a run, median of {args.repeats}"
            )
            print(
                "| scenario | our exports/s | of what the limit leaves us | 429s of ours | other client/s |"
            )
            print("|---|---|---|---|---|")
            for name, (tasks, other) in SCENARIOS.items():
                runs = [run(url, paths, tasks, other, args, workdir) for _ in range(args.repeats)]
                med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
                print(
                    f"| {name} | {med['ours_per_second']:.1f} | {med['of_available']:.2f} | "
                    f"{med['share_429']:.2%} | {med['other_per_second']:.1f} |",
                    flush=True,
                )
        except WorkspaceError as exc:
            raise SystemExit(f"error: {exc}") from exc
        finally:
            process.terminate()
            process.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
