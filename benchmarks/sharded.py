"""A repository per year against one repository: the daily run's cost with 3 open and 5 closed years.

Issue 28's acceptance item (ADR 0007): one emulator (its own process, the published rate limits and latency:
export 60/s, list 50/s, 50 ms) holding ``--scale`` notebooks over 8 year folders, 2019-2026, one git server,
and Airflow under the scheduler (api-server + scheduler + dag-processor, LocalExecutor, SQLite, default
``[gitsync]`` settings, as ``benchmarks/run --scheduler``). Two deployments back up the same workspace:
``single`` into one repository, ``per-year`` into ``notebooks-{year}`` (``notebooks-2019`` ... ``-2026`` and
``notebooks-other``, all created on the git server). Four days, each day's workspace change made once and
then backed up by both deployments, one after the other (each run on an Airflow started for it on the
deployment's own home, so that nothing else of Airflow runs while a run is measured):

1. a first full sync;
2. the daily change (``benchmarks/run``'s 3,000 modified, 300 added, 200 deleted x scale/70,000), spread
   over the 3 newest years (2024-2026) only; the per-year deployment runs with
   ``AIRFLOW__GITSYNC__ARCHIVE_AFTER_DAYS=0``, so that the 5 older years, unchanged, are closed (asserted
   from the git server's refs: ``archive/2019`` ... ``archive/2023``, none for 2024-2026);
3. **measured**: the same size of change in the 3 newest years, default settings;
4. **measured**: no change.

Per run: wall seconds from the trigger to the run's end, the prepare and commit tasks' seconds (the report's
``durations_seconds``), the Workspace API calls, the repositories fetched (mirrors whose ``FETCH_HEAD`` the
run rewrote, under the deployment's ``cache_dir``) and each repository's state in the report, bytes pushed,
and the backup against the workspace byte for byte (the single repository's tag; with a repository per year,
each year's repository against its part of the workspace: its ``backup/<date>`` tag, or its
``archive/<year>`` tag when the run did not open it).

Everything lives under ``--workdir`` (default ``.bench/sharded-<scale>``); the results go to
``<out>/sharded-<scale>-<commit>.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from contextlib import ExitStack
from datetime import date, timedelta
from pathlib import Path

from airflow_runs import airflow_env, scheduler, triggered_runs
from stack import PAT, USER, Emulator, check_backup, emulator_args, expected_files, git_auth_env
from sync_benchmark import DAILY_CHANGES, connections, machine, measure

from gitsync_devkit.servers import start_server

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
YEARS = tuple(range(2019, 2027))
OPEN_YEARS = ("2024", "2025", "2026")
CLOSED_YEARS = tuple(str(y) for y in YEARS if str(y) not in OPEN_YEARS)
SHARDS = (*(str(y) for y in YEARS), "other")
DEPLOYMENTS = ("single", "per-year")
SCENARIOS = ("full", "closing", "daily", "no-change")
MEASURED = ("daily", "no-change")
# Logical dates in the past (the scheduler refuses one in the future), a day apart.
DAYS = {s: (date.today() - timedelta(days=len(SCENARIOS) - i)).isoformat() for i, s in enumerate(SCENARIOS)}


def remote_of(git_url: str, deployment: str, shard: str | None = None) -> str:
    """The git connection's host of ``deployment`` (with ``shard``: that year's repository)."""
    if deployment == "single":
        return f"{git_url}/single.git"
    return f"{git_url}/notebooks-{shard or '{year}'}.git"


def remote_tags(url: str) -> set[str]:
    """The tags of the repository at ``url`` on the git server (``git ls-remote``, no fetch)."""
    listing = subprocess.run(
        ["git", "ls-remote", "--refs", "--tags", url],
        env=git_auth_env(url),
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return {line.split("\t")[1].removeprefix("refs/tags/") for line in listing.splitlines()}


def archive_tags(git_url: str, shard: str) -> list[str]:
    """The ``archive/`` tags of ``shard``'s repository of the per-year deployment."""
    return sorted(t for t in remote_tags(remote_of(git_url, "per-year", shard)) if t.startswith("archive/"))


def fetch_heads(cache_dir: Path) -> dict[str, float]:
    """Each mirror under ``cache_dir`` with the time its ``FETCH_HEAD`` was last written (0: never), which
    every fetch of the mirror's sync rewrites."""
    if not cache_dir.is_dir():
        return {}
    return {
        m.name: (m / "FETCH_HEAD").stat().st_mtime if (m / "FETCH_HEAD").exists() else 0.0
        for m in sorted(cache_dir.glob("*.git"))
    }


def check_deployment(
    emulator: Emulator, git_url: str, deployment: str, day: str, expected: dict[str, str], checks: Path
) -> dict:
    """The run's backup against the workspace (``expected``), byte for byte: the single repository's tag,
    or each year's repository against its part: its ``backup/<day>`` tag, else its ``archive/<year>``."""
    tag = f"backup/{day}"
    if deployment == "single":
        return check_backup(emulator, remote_of(git_url, deployment), tag, checks / "single.git", expected)
    from airflow_gitsync.shards import shard_of_path

    wanted = {shard_of_path(p) for p in expected}
    shards = {}
    for shard in SHARDS:
        url = remote_of(git_url, deployment, shard)
        tags = remote_tags(url)
        if not tags and shard not in wanted:
            shards[shard] = {"ref": None, "files": 0, "byte_for_byte": True, "note": "empty, none expected"}
            continue
        ref = tag if tag in tags else f"archive/{shard}" if f"archive/{shard}" in tags else tag
        result = check_backup(emulator, url, ref, checks / f"per-year-{shard}.git", expected, shard)
        shards[shard] = {"ref": ref} | result
    return {
        "files": sum(s.get("files", 0) for s in shards.values()),
        "missing": [p for s in shards.values() for p in s.get("missing", [])],
        "unexpected": [p for s in shards.values() for p in s.get("unexpected", [])],
        "differ": [p for s in shards.values() for p in s.get("differ", [])],
        "errors": {shard: s["error"] for shard, s in shards.items() if "error" in s},
        "uncovered_shards": sorted(wanted - set(SHARDS)),
        "byte_for_byte": all(s["byte_for_byte"] for s in shards.values()) and wanted <= set(SHARDS),
        "shards": {shard: {k: v for k, v in s.items() if k in ("ref", "files", "byte_for_byte", "error")}
                   for shard, s in shards.items()},
    }  # fmt: skip


def run_one(
    emulator: Emulator,
    rates: dict[str, float],
    env: dict[str, str],
    day: str,
    extra: dict[str, str],
) -> dict:
    """Start Airflow on the deployment's home (``extra`` over its settings), trigger ``day``'s run, wait for
    it, stop Airflow: the run as :func:`sync_benchmark.measure` reads it, and the mirrors it fetched."""
    cache_dir = Path(env["AIRFLOW__GITSYNC__CACHE_DIR"])
    with scheduler(env | extra) as airflow:
        run_day = triggered_runs(airflow)
        before = fetch_heads(cache_dir)
        started = time.time()
        run = measure(emulator, rates, lambda: run_day(day), True)
    after = fetch_heads(cache_dir)
    fetched = sorted(m for m, t in after.items() if t >= started - 1 and t != before.get(m))
    summary = run["summary"] or {}
    return run | {
        "settings": extra,
        "mirrors": sorted(after),
        "mirrors_fetched": fetched,
        "durations_seconds": summary.get("durations_seconds", {}),
        "pushed_bytes": (summary.get("commit") or {}).get("pushed_bytes", 0),
        "repository_states": {r["shard"]: r["state"] for r in summary.get("repositories", [])},
        "run_complete": summary.get("complete"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=70_000, help="notebooks in the workspace (1400: quick)")
    parser.add_argument("--export-rps", type=float, default=60.0)
    parser.add_argument("--list-rps", type=float, default=50.0)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--workdir", type=Path, help="default: .bench/sharded-<scale> in the checkout")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument("--commit", default=None, help="the commit measured (default: git rev-parse HEAD)")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the servers on the way out
    # Bytecode as a production install has it, as benchmarks/run does: not compiled again in every task.
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)

    rates = {"export": args.export_rps, "list": args.list_rps}
    changes = {k: max(1, round(v * args.scale / 70_000)) for k, v in DAILY_CHANGES.items()}
    commit = args.commit or commit_hash()
    workdir = args.workdir or ROOT / ".bench" / f"sharded-{args.scale}"
    shutil.rmtree(workdir, ignore_errors=True)
    (workdir / "checks").mkdir(parents=True)
    results: dict = {
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "commit": commit,
        "years": list(YEARS),
        "open_years": list(OPEN_YEARS),
        "closed_years": list(CLOSED_YEARS),
        "daily_changes": changes,
        "days": DAYS,
        "machine": machine(),
        "runs": {},
        "closing": {},
    }
    with ExitStack() as stack:
        started = time.monotonic()
        repos = ["single", *(f"notebooks-{s}" for s in SHARDS)]
        git_url = start_server(
            stack,
            "git-server",
            "git_server",
            ["--root", str(workdir / "git"), "--port", "0", "--user", USER, "--token", PAT]
            + [arg for repo in repos for arg in ("--create", f"{repo}.git")],
            workdir,
        )
        emulator = Emulator(
            start_server(
                stack,
                "emulator",
                "emulator",
                emulator_args(args.scale, rates, args.latency_ms, "127.0.0.1", 0, YEARS),
                workdir,
            )
        )
        results["deleted_too_large"] = emulator.delete_too_large()
        print(f"servers up in {time.monotonic() - started:.0f} s", flush=True)
        envs = {}
        for deployment in DEPLOYMENTS:
            home = workdir / deployment
            home.mkdir()
            envs[deployment] = airflow_env(home, dict(os.environ), rates) | connections(
                emulator.url, remote_of(git_url, deployment)
            )
        for scenario, day in DAYS.items():
            if scenario in ("closing", "daily"):
                prefixes = tuple(f"/Clients/{y}/" for y in OPEN_YEARS)
                emulator.mutate(**changes, prefixes=prefixes, label=f"bench_new_{scenario}")
            expected = expected_files(emulator)
            for deployment in DEPLOYMENTS:
                extra = {}
                if scenario == "closing" and deployment == "per-year":
                    extra = {"AIRFLOW__GITSYNC__ARCHIVE_AFTER_DAYS": "0"}
                run = run_one(emulator, rates, envs[deployment], day, extra)
                run["backup_check"] = check_deployment(
                    emulator, git_url, deployment, day, expected, workdir / "checks"
                )
                run["measured"] = scenario in MEASURED
                results["runs"][f"{deployment}: {scenario}"] = run
                print(f"  {deployment} {scenario} ({day}): {line(run)}", flush=True)
            if scenario == "closing":
                results["closing"] = closing = {s: archive_tags(git_url, s) for s in SHARDS}
                closed = {s for s, tags in closing.items() if f"archive/{s}" in tags}
                print(f"  closed after day 2: {', '.join(sorted(closed)) or 'none'}", flush=True)
                if closed != set(CLOSED_YEARS):
                    raise SystemExit(f"expected archive/ tags on {', '.join(CLOSED_YEARS)}; got {closing}")
        results["total_seconds"] = time.monotonic() - started

    results["ratios"] = {
        scenario: ratios(results["runs"][f"single: {scenario}"], results["runs"][f"per-year: {scenario}"])
        for scenario in MEASURED
    }
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"sharded-{args.scale}-{commit}"
    stem.with_suffix(".json").write_text(json.dumps(results, indent=1, default=str))
    table = render(results)
    stem.with_suffix(".md").write_text(table)
    print(table)
    print(f"written: {stem}.json, {stem}.md")
    ok = all(r["backup_check"]["byte_for_byte"] and r["run_complete"] for r in results["runs"].values())
    return 0 if ok else 1


def commit_hash() -> str:
    done = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    )
    return done.stdout.strip() or "unknown"


def ratios(single: dict, sharded: dict) -> dict:
    """per-year / single for the wall time, the prepare and commit tasks' seconds, the bytes pushed."""

    def ratio(a: float | None, b: float | None) -> float | None:
        return b / a if a and b is not None else None

    one, per_year = single["durations_seconds"], sharded["durations_seconds"]
    return {
        "wall": ratio(single["wall_seconds"], sharded["wall_seconds"]),
        "prepare": ratio(one.get("prepare"), per_year.get("prepare")),
        "commit": ratio(one.get("commit"), per_year.get("commit")),
        "pushed_bytes": ratio(single["pushed_bytes"], sharded["pushed_bytes"]),
    }


def states(run: dict) -> str:
    """The repositories' states in the report, counted: ``3 active, 5 archived``."""
    counts: dict[str, int] = {}
    for state in run["repository_states"].values():
        counts[state] = counts.get(state, 0) + 1
    return ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "1 (single)"


def verdict(check: dict) -> str:
    if check.get("byte_for_byte"):
        return "yes"
    if check.get("error") or check.get("errors"):
        return f"no: {check.get('error') or check.get('errors')}"
    return "no: " + ", ".join(f"{len(check.get(k, ()))} {k}" for k in ("missing", "differ", "unexpected"))


def line(run: dict) -> str:
    d = run["durations_seconds"]
    return (
        f"{run['wall_seconds']:.1f} s (prepare {d.get('prepare', 0):.1f} s, "
        f"commit {d.get('commit', 0):.1f} s), "
        f"{len(run['mirrors_fetched'])} fetched, {kib(run['pushed_bytes'])} pushed, "
        f"byte for byte: {verdict(run['backup_check'])}, complete: {run['run_complete']}"
    )


def kib(value: int | None) -> str:
    if not value:
        return "0"
    return f"{value / 2**20:,.2f} MiB" if value >= 2**20 else f"{value / 1024:,.1f} KiB"


def render(results: dict) -> str:
    """The results as markdown tables."""
    a = results["args"]
    lines = [
        f"Scale {a['scale']:,} over {len(results['years'])} year folders ({results['years'][0]}-"
        f"{results['years'][-1]}): export {a['export_rps']:g}/s, list {a['list_rps']:g}/s, "
        f"{a['latency_ms']:g} ms; Airflow under the scheduler (LocalExecutor, SQLite), default settings; "
        f"commit {results['commit']}. Daily change in {', '.join(results['open_years'])} only: "
        + ", ".join(f"{v:,} {k}" for k, v in results["daily_changes"].items())
        + ". Closed after day 2 (per-year, archive_after_days=0 that day only): "
        + ", ".join(s for s, tags in results["closing"].items() if f"archive/{s}" in tags),
        "",
        "| day | run | wall | prepare | commit | list / export calls | 429s | repositories fetched "
        "| repository states | pushed | byte for byte | load (1 min) at the end |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results["runs"].items():
        deployment, scenario = name.split(": ")
        d = r["durations_seconds"]
        label = f"**{scenario}**" if r["measured"] else f"{scenario} (setup)"
        lines.append(
            f"| {label} | {deployment} | {r['wall_seconds']:,.1f} s | {d.get('prepare', 0):,.1f} s "
            f"| {d.get('commit', 0):,.1f} s "
            f"| {r['calls'].get('list', 0):,} / {r['calls'].get('export', 0):,} "
            f"| {r['http_429']:,} | {len(r['mirrors_fetched'])} of {len(r['mirrors'])} mirrors "
            f"| {states(r)} | {kib(r['pushed_bytes'])} | {verdict(r['backup_check'])} "
            f"| {r.get('load_average_at_end', 0):.1f} |"
        )
    lines += [
        "",
        "per-year / single, measured in the same invocation:",
        "",
        "| day | wall | prepare | commit | pushed |",
        "|---|---|---|---|---|",
    ]
    for scenario, q in results["ratios"].items():
        cells = [f"{v:.2f}" if v is not None else "-" for v in q.values()]
        lines.append(f"| {scenario} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
