"""Plot wall time per phase of each run against its rate-limit floor, from ``benchmarks/run`` results.

    .venv/bin/python benchmarks/plot_phases.py benchmarks/results/run-*.json -o benchmarks/results/phases.png

A results file named ``run-<scale>-<commit>.json`` is labelled with its commit.

Phases: listing (prepare + scan task seconds; since 7c07070 a scan also exports the engagements
exported one object at a time, overlapping its listing), export (export task seconds: API calls and
the staging writes they overlap with), git (commit task seconds: staging reads, fast-import, push,
tag), and Airflow (the rest of the wall time: task start-up, XCom, scheduling, ``airflow`` CLI
start-up). Under the scheduler, tasks run in parallel: there each phase is the wall time its task
instances span.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib.pyplot as plt

SCENARIOS = ("full", "incremental", "no-change")
PHASES = {
    "listing (+ exports in the scan)": ("prepare", "scan"),
    "export + staging": ("export",),
    "git": ("commit",),
}
COLORS = {
    "listing (+ exports in the scan)": "#4c72b0",
    "export + staging": "#55a868",
    "git": "#c44e52",
    "Airflow": "#8c8c8c",
}


def bars(results: dict[str, dict], scenario: str) -> list[tuple[str, dict[str, float], float]]:
    """(label, seconds per phase, floor) of every run of ``scenario``; results by file name."""
    out = []
    for stem, result in results.items():
        code = stem.rsplit("-", 1)[-1] if stem.startswith("run-") else ""
        for name, run in result["runs"].items():
            mode, run_scenario = name.split(": ")
            if run_scenario != scenario:
                continue
            durations = (run["summary"] or {}).get("durations_seconds", {})
            if mode == "scheduler":  # tasks run in parallel: the wall time each group of tasks spans
                durations = {t: ti["span_seconds"] for t, ti in run["task_instances"].items()}
            phases = {p: sum(durations.get(t, 0.0) for t in tasks) for p, tasks in PHASES.items()}
            phases["Airflow"] = run["wall_seconds"] - sum(phases.values())
            out.append((f"{code}\n{mode}", phases, run["floor_seconds"]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", type=Path)
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args()
    results = {p.stem: json.loads(p.read_text()) for p in args.results}
    scales = sorted({r["args"]["scale"] for r in results.values()})

    fig, grid = plt.subplots(len(scales), len(SCENARIOS), figsize=(13, 4.2 * len(scales)), squeeze=False)
    for row, scale in zip(grid, scales, strict=True):
        of_scale = {stem: r for stem, r in results.items() if r["args"]["scale"] == scale}
        for ax, scenario in zip(row, SCENARIOS, strict=True):
            plot(ax, bars(of_scale, scenario), f"{scale:,} notebooks: {scenario}")
    grid[0][0].legend(fontsize=8, loc="lower left")
    fig.suptitle("Backup DAG: wall time per phase against the rate-limit floor (x = wall / floor)")
    fig.tight_layout()
    fig.savefig(args.output, dpi=110)


def plot(ax, runs: list[tuple[str, dict[str, float], float]], title: str) -> None:
    for x, (_, phases, floor) in enumerate(runs):
        bottom = 0.0
        for phase, seconds in phases.items():
            ax.bar(x, seconds, bottom=bottom, color=COLORS[phase], label=phase if x == 0 else None)
            bottom += seconds
        ax.hlines(
            floor, x - 0.45, x + 0.45, colors="black", linestyles="--", label="floor" if x == 0 else None
        )
        ax.text(x, bottom, f"{bottom / floor:.2f}x" if floor else "", ha="center", va="bottom", fontsize=8)
    ax.set_xticks(range(len(runs)), [label for label, _, _ in runs], fontsize=8)
    ax.set_title(title)
    ax.set_ylabel("wall seconds")


if __name__ == "__main__":
    main()
