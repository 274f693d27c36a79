"""The backup DAG end to end at scale, against the rate-limit floor and the baselines (``benchmarks/run``).

Generates a workspace in the emulator (its own process, published rate limits and latency), a local git
smart-HTTP server as the remote, and measures, with ``airflow dags test`` (with ``--scheduler`` a real
scheduler + LocalExecutor, with ``--celery`` Postgres + the CeleryExecutor with two workers): a full sync,
a daily incremental after (3,000 modified, 300 added, 200 deleted) x scale/70,000, and a no-change run.
Unless ``--skip-baselines``, first the legacy ``databricks-cli`` and a ``databricks-sdk`` loop back up the
same data (see ``baselines.py``). With ``--celery``, the requests to the storage account are counted per run,
and ``--storage-delay-ms`` holds each back by a round trip (``gitsync_devkit/delay_proxy.py``). With
``--fresh-pods`` (and ``--celery``), the same runs twice more on clusters whose every task starts with an
empty ``cache_dir`` of its own, as each task of the KubernetesExecutor is a new pod: once with
``rate_limit_url = local`` (each task limits itself alone, as pods without Redis do), once with the rate
limit shared through a Redis of its own. After every run the backup's tag is compared with the workspace
byte for byte.

Floor: exports/export_rps + lists/list_rps, with the calls counted by the emulator (429s excluded): the
two in sequence. Folder exports (a first sync) do run after every scan; exports one object at a time (a
daily run) run inside the scans, overlapping the listing, so a daily run can take less than this floor.

Everything lives under ``.bench/scale-N/``; the results go to ``results.json`` and ``results.md`` there.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from airflow_runs import airflow_env, celery, dags_test, migrate, scheduler, triggered_runs
from stack import PAT, TOKEN, USER, Emulator, check_backup, emulator_args, run_measured

from gitsync_devkit.cluster import redis
from gitsync_devkit.servers import start_server

ROOT = Path(__file__).resolve().parents[1]
# Logical dates in the past: the scheduler refuses to run one in the future.
DAYS = {
    s: (date.today() - timedelta(days=3 - i)).isoformat()
    for i, s in enumerate(("full", "incremental", "no-change"))
}
DAILY_CHANGES = {"modified": 3000, "added": 300, "deleted": 200}
PHASES = ("prepare", "scan", "export", "commit")
STORAGE_OPERATIONS = ("GET", "HEAD", "PUT", "DELETE", "LIST")


def connections(emulator: str, remote: str) -> dict[str, str]:
    address = urlsplit(emulator)
    databricks = {"conn_type": "databricks", "host": address.hostname, "port": address.port}
    git = {"conn_type": "azure_devops_git", "host": remote, "login": USER, "password": PAT}
    return {
        "AIRFLOW_CONN_DATABRICKS_DEFAULT": json.dumps(databricks | {"schema": "http", "password": TOKEN}),
        "AIRFLOW_CONN_AZURE_DEVOPS_GIT_DEFAULT": json.dumps(git),
    }


def measure(emulator: Emulator, rates: dict[str, float], run, parallel: bool) -> dict:
    """One DAG run (``run()``) with the emulator's counters around it, and the figures derived from both.

    Sequential tasks (``dags test``): Airflow's share is the wall time outside the task callables. Parallel
    tasks (scheduler): the wall time outside the spans of the task groups, and no per-instance figure.
    The export window runs from the first export request to the last, sampled twice a second.
    """
    emulator.reset_counters()
    with ExportSampler(emulator) as sampler:
        result = run()
    counters = emulator.counters()
    served = {e: c["requests"] - c["429"] for e, c in counters.items() if c["requests"]}
    floor = served.get("export", 0) / rates["export"] + served.get("list", 0) / rates["list"]
    summary = result["summary"] or {}
    durations = summary.get("durations_seconds", {})
    if parallel:
        durations = {t: result["task_instances"].get(t, {}).get("span_seconds", 0.0) for t in PHASES}
    instances = sum(t["count"] for t in result["task_instances"].values())
    per_instance = None if parallel else (result["tasks_span_seconds"] - sum(durations.values())) / instances
    window = sampler.window()
    return result | {
        "calls": served,
        "http_429": sum(c["429"] for c in counters.values()),
        "export_429": counters.get("export", {}).get("429", 0),
        "export_window_seconds": window,
        "export_rate": served.get("export", 0) / window if window else None,
        "floor_seconds": floor,
        "ratio_to_floor": result["wall_seconds"] / floor if floor else None,
        "airflow_overhead_seconds": result["wall_seconds"] - sum(durations.values()),
        "airflow_startup_seconds": result["wall_seconds"] - result["tasks_span_seconds"],
        "overhead_per_task_instance": per_instance,
        "phase_seconds": durations,
        "task_instance_count": instances,
        "load_average_at_end": os.getloadavg()[0],  # others' work on the machine, for noisy figures
    }


class ExportSampler:
    """Samples the emulator's export request count twice a second while a run goes on."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        self.samples: list[tuple[float, int]] = []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> ExportSampler:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.done.set()
        self.thread.join()

    def _sample(self) -> None:
        while not self.done.wait(0.5):
            self.samples.append((time.monotonic(), self.emulator.counters()["export"]["requests"]))

    def window(self) -> float | None:
        """Seconds from the sample before the first export request to the first sample after the last."""
        moving = [i for i in range(1, len(self.samples)) if self.samples[i][1] > self.samples[i - 1][1]]
        if not moving:
            return None
        return self.samples[moving[-1]][0] - self.samples[moving[0] - 1][0]


def run_baselines(args, stack: ExitStack, workdir: Path, git_url: str) -> dict:
    """Both baselines at once, each on its own emulator (port 80 of 127.0.0.2 and .3): they are sequential
    clients bound by latency, not CPU, so running them side by side keeps ``--scale 7000`` under 15 min."""
    rates = {"export": args.export_rps, "list": args.list_rps}
    emulators = {}
    for kind, host in (("cli", "127.0.0.2"), ("sdk", "127.0.0.3")):
        url = start_server(
            stack,
            f"emulator-{kind}",
            "emulator",
            emulator_args(args.scale, rates, args.latency_ms, host, 80),
            workdir,
        )
        emulators[kind] = Emulator(url)
        emulators[kind].delete_too_large()

    def one(kind: str) -> dict:
        out = workdir / f"baseline-{kind}.json"
        with out.open("w") as stdout, (workdir / f"baseline-{kind}.log").open("w") as stderr:
            wall, rss, code = run_measured(
                [
                    sys.executable,
                    str(ROOT / "benchmarks" / "baselines.py"),
                    kind,
                    emulators[kind].url.removesuffix(":80"),
                    str(workdir / f"baseline-{kind}"),
                    f"{git_url}/{kind}.git",
                ],
                stdout=stdout,
                stderr=stderr,
            )
        if code:
            raise SystemExit(f"error: the {kind} baseline failed: see {workdir / f'baseline-{kind}.log'}")
        counters = emulators[kind].counters()
        served = {e: c["requests"] - c["429"] for e, c in counters.items() if c["requests"]}
        return json.loads(out.read_text()) | {
            "wall_seconds": wall,
            "process_peak_rss_bytes": rss,
            "calls": served,
            "http_429": sum(c["429"] for c in counters.values()),
        }

    with ThreadPoolExecutor(2) as pool:
        return dict(zip(emulators, pool.map(one, emulators), strict=True))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--scale",
        type=int,
        default=7000,
        help="notebooks in the workspace (7000 or 70000; 0: an empty /Clients, Airflow's own floor)",
    )
    parser.add_argument("--export-rps", type=float, default=60.0)
    parser.add_argument("--list-rps", type=float, default=50.0)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--skip-baselines", action="store_true")
    parser.add_argument("--scheduler", action="store_true", help="also run with a scheduler + LocalExecutor")
    parser.add_argument(
        "--celery", action="store_true", help="also run on Postgres + CeleryExecutor with two workers"
    )
    parser.add_argument(
        "--celery-local-staging",
        action="store_true",
        help="--celery with the staging store on the local disk, not Azurite (isolates the rate limit)",
    )
    parser.add_argument(
        "--storage-delay-ms",
        type=float,
        default=0.0,
        help="--celery: hold back each request to the storage account by this long (a proxy before Azurite)",
    )
    parser.add_argument(
        "--fresh-pods",
        action="store_true",
        help="--celery, then twice more with an empty cache_dir per task (new pods): each task limiting "
        "itself alone (rate_limit_url = local), and sharing the limit through a Redis",
    )
    parser.add_argument("--skip-dags-test", action="store_true", help="no airflow dags test runs")
    args = parser.parse_args(argv)
    if args.storage_delay_ms and not args.celery:
        parser.error("--storage-delay-ms needs --celery")
    if args.fresh_pods and not args.celery:
        parser.error("--fresh-pods needs --celery (the warm cluster it is compared with)")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the servers on the way out

    rates = {"export": args.export_rps, "list": args.list_rps}
    changes = {k: max(1, round(v * args.scale / 70_000)) for k, v in DAILY_CHANGES.items()}
    workdir = ROOT / ".bench" / f"scale-{args.scale}"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    results: dict = {
        "args": vars(args),
        "daily_changes": changes,
        "machine": machine(),
        "runs": {},
    }
    with ExitStack() as stack:
        started = time.monotonic()
        git_url = start_server(
            stack,
            "git-server",
            "git_server",
            ["--root", str(workdir / "git"), "--port", "0", "--user", USER, "--token", PAT]
            + [
                arg
                for repo in (
                    "dags",
                    "scheduler",
                    "celery",
                    "celery-fresh",
                    "celery-fresh-redis",
                    "cli",
                    "sdk",
                )
                for arg in ("--create", f"{repo}.git")
            ],
            workdir,
        )
        emulator = Emulator(
            start_server(
                stack,
                "emulator",
                "emulator",
                emulator_args(args.scale, rates, args.latency_ms, "127.0.0.1", 0),
                workdir,
            )
        )
        results["deleted_too_large"] = emulator.delete_too_large()
        if not args.scale:  # the same DAG with nothing to back up: what each run costs in Airflow alone
            emulator.control("mkdirs", {"path": "/Clients"})
        print(f"servers up in {time.monotonic() - started:.0f} s", flush=True)
        if not args.skip_baselines:
            print("baselines (legacy CLI and SDK loop, side by side) ...", flush=True)
            results["baselines"] = run_baselines(args, stack, workdir, git_url)
            for kind, b in results["baselines"].items():
                print(f"  {kind}: {b['wall_seconds']:.0f} s", flush=True)

        modes = {
            mode: name
            for mode, name, wanted in (
                ("dags test", "dags", not args.skip_dags_test),
                ("scheduler", "scheduler", args.scheduler),
                ("celery", "celery", args.celery),
                ("celery fresh pods", "celery-fresh", args.fresh_pods),
                ("celery fresh pods, redis", "celery-fresh-redis", args.fresh_pods),
            )
            if wanted
        }
        for mode, name in modes.items():
            home = workdir / name
            home.mkdir()
            env = airflow_env(home, dict(os.environ), rates) | connections(
                emulator.url, f"{git_url}/{name}.git"
            )
            with ExitStack() as runner:
                if mode == "dags test":
                    migrate(env)

                    def run_day(day: str, env=env, home=home) -> dict:
                        return dags_test(env, day, home / f"dags-test-{day}.log")

                else:
                    if mode == "scheduler":
                        airflow = scheduler(env)
                    else:
                        limit = {"celery fresh pods": "local"}.get(mode)
                        if mode == "celery fresh pods, redis":
                            limit = runner.enter_context(redis(home))
                        airflow = celery(
                            env,
                            args.celery_local_staging,
                            args.storage_delay_ms,
                            fresh_pods="fresh pods" in mode,
                            rate_limit_url=limit,
                        )
                    run_day = triggered_runs(runner.enter_context(airflow))

                for scenario, day in DAYS.items():
                    if scenario == "incremental" and args.scale:
                        emulator.mutate(**changes)
                    run = measure(emulator, rates, lambda d=day, go=run_day: go(d), mode != "dags test")
                    run["backup_check"] = check_backup(
                        emulator, f"{git_url}/{name}.git", f"backup/{day}", home / "check.git"
                    )
                    results["runs"][f"{mode}: {scenario}"] = run
                    ratio = run["ratio_to_floor"] or 0
                    storage = ""
                    if requests := run.get("storage_requests"):
                        staging, xcom = requests["staging"]["total"], requests["xcom"]["total"]
                        storage = f", {staging} staging / {xcom} xcom requests"
                    check = "byte for byte" if run["backup_check"]["byte_for_byte"] else "BACKUP DIFFERS"
                    print(
                        f"  {mode} {scenario}: {run['wall_seconds']:.0f} s, {ratio:.2f}x floor{storage}, "
                        f"{run['http_429']} 429s, {check}",
                        flush=True,
                    )
        results["total_seconds"] = time.monotonic() - started

    (workdir / "results.json").write_text(json.dumps(results, indent=1))
    table = render(results)
    (workdir / "results.md").write_text(table)
    print(table)
    return 0


def machine() -> dict:
    def out(*cmd: str) -> str:
        return subprocess.run(cmd, capture_output=True, text=True).stdout.strip()

    import airflow

    memory = next(
        line for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")
    )
    return {
        "nproc": os.cpu_count(),
        "memory": memory.split(":")[1].strip(),
        "cpu": next(
            line.split(":")[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "python": sys.version.split()[0],
        "git": out("git", "--version"),
        "airflow": airflow.__version__,
        "load_average_at_start": os.getloadavg(),
    }


def _total(storage: dict, kind: str) -> str:
    return f"{storage[kind]['total']:,}" if kind in storage else "-"


def _verdict(check: dict) -> str:
    """A :func:`stack.check_backup` result in a few words."""
    if check.get("byte_for_byte"):
        return "yes"
    if "error" in check:
        return f"no: {check['error']}"
    counts = {k: len(check.get(k, ())) for k in ("missing", "differ", "unexpected")}
    return "no: " + ", ".join(f"{n} {k}" for k, n in counts.items())


def mib(value: float | None) -> str:
    return f"{value / 2**20:,.0f} MiB" if value else "-"


def render(results: dict) -> str:
    """The results as markdown tables."""
    lines = [
        f"Scale {results['args']['scale']:,}: export {results['args']['export_rps']:g}/s, list "
        f"{results['args']['list_rps']:g}/s, {results['args']['latency_ms']:g} ms; daily change "
        + ", ".join(f"{v:,} {k}" for k, v in results["daily_changes"].items())
        + (
            f"; storage requests held back {delay:g} ms"
            if (delay := results["args"].get("storage_delay_ms"))
            else ""
        ),
        "",
        "| run | wall | floor | x floor | list / export / get-status calls | 429s | task instances "
        "| Airflow: all / start-up / per TI | peak RSS: process / largest task | pushed "
        "| staging requests | xcom requests |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results["runs"].items():
        calls = r["calls"]
        per_ti = (
            "-" if r["overhead_per_task_instance"] is None else f"{r['overhead_per_task_instance']:.2f} s"
        )
        task_rss = max((r["summary"] or {}).get("peak_rss_bytes", {}).values(), default=None)
        pushed = ((r["summary"] or {}).get("commit") or {}).get("pushed_bytes")
        storage = r.get("storage_requests") or {}
        lines.append(
            f"| {name} | {r['wall_seconds']:,.0f} s | {r['floor_seconds']:,.0f} s "
            f"| {r['ratio_to_floor'] or 0:.2f} "
            f"| {calls.get('list', 0):,} / {calls.get('export', 0):,} / {calls.get('get-status', 0):,} "
            f"| {r['http_429']:,} | {r['task_instance_count']:,} "
            f"| {r['airflow_overhead_seconds']:,.0f} s / {r['airflow_startup_seconds']:,.0f} s "
            f"/ {per_ti} "
            f"| {mib(r['process_peak_rss_bytes'])} / {mib(task_rss)} | {mib(pushed) if pushed else '0'} "
            f"| {_total(storage, 'staging')} | {_total(storage, 'xcom')} |"
        )
    lines += [
        "",
        "Seconds per phase: in the task callables (dags test), the wall span of each task group (scheduler):",
        "",
    ]
    lines += ["| run | " + " | ".join(PHASES) + " | sum | wall - sum |", "|---" * (len(PHASES) + 3) + "|"]
    for name, r in results["runs"].items():
        durations = r["phase_seconds"]
        lines.append(
            f"| {name} | "
            + " | ".join(f"{durations.get(p, 0):,.1f}" for p in PHASES)
            + f" | {sum(durations.values()):,.1f} | {r['airflow_overhead_seconds']:,.1f} |"
        )
    lines += [
        "",
        "Exports against the limit: requests answered 429, and the export rate over the window from the "
        "first export request to the last (sampled every 0.5 s):",
        "",
        "| run | export calls | export 429s | export window | export rate | of the limit |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in results["runs"].items():
        if rate := r.get("export_rate"):
            lines.append(
                f"| {name} | {r['calls'].get('export', 0):,} | {r['export_429']:,} "
                f"| {r['export_window_seconds']:,.1f} s | {rate:,.1f}/s "
                f"| {rate / results['args']['export_rps']:.0%} |"
            )
    lines += [
        "",
        "Each run's tag against the workspace (byte for byte: every notebook and file, by git blob id), and "
        "the Workspace API requests answered 429:",
        "",
        "| run | files | byte for byte | requests | 429s | 429 share | load (1 min) at the end |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in results["runs"].items():
        check = r.get("backup_check") or {}
        requests = sum(r["calls"].values()) + r["http_429"]
        lines.append(
            f"| {name} | {check.get('files', 0):,} | {_verdict(check)} | {requests:,} | {r['http_429']:,} "
            f"| {r['http_429'] / requests if requests else 0:.1%} | {r.get('load_average_at_end', 0):.1f} |"
        )
    if storage_runs := {
        n: r["storage_requests"] for n, r in results["runs"].items() if r.get("storage_requests")
    }:
        lines += [
            "",
            "Requests to the storage account (Azurite's access log, from the trigger to the run's end), by "
            "operation (LIST: a listing of the container under the prefix):",
            "",
            "| run | store | total | " + " | ".join(STORAGE_OPERATIONS) + " | 4xx/5xx |",
            "|---" * (len(STORAGE_OPERATIONS) + 4) + "|",
        ]
        for name, storage in storage_runs.items():
            for kind, counts in storage.items():
                lines.append(
                    f"| {name} | {kind} | {counts['total']:,} | "
                    + " | ".join(f"{counts.get(op, 0):,}" for op in STORAGE_OPERATIONS)
                    + f" | {counts.get('4xx/5xx', 0):,} |"
                )
    if "baselines" in results:
        lines += [
            "",
            "Baselines, run side by side (same data minus the notebooks over 10 MB, which the legacy CLI "
            "cannot skip):",
            "",
            "| baseline | export | git add/commit/push | wall | peak RSS | list / export calls "
            "| ours/theirs: full | incremental | no-change |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for kind, b in results["baselines"].items():
            ratios = [
                f"{r['wall_seconds'] / b['wall_seconds']:.2f}"
                for s in DAYS
                if (r := results["runs"].get(f"dags test: {s}"))
            ]
            lines.append(
                f"| {kind} | {b['export_seconds']:,.0f} s | {b['git_seconds']:,.0f} s "
                f"| {b['wall_seconds']:,.0f} s | {mib(b['process_peak_rss_bytes'])} "
                f"| {b['calls'].get('list', 0):,} / {b['calls'].get('export', 0):,} "
                f"| " + " | ".join(ratios) + " |"
            )
        lines.append("")
        lines.append("(A baseline re-exports everything every day, so its daily time is its full time.)")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
