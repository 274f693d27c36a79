"""Plot wall time per phase of each run against its rate-limit floor, from ``benchmarks/run`` results.

    .venv/bin/python benchmarks/plot_phases.py .bench/scale-*/results.json -o benchmarks/results/phases.png

Phases: listing (prepare + scan task seconds), export (export task seconds: API calls and the staging
writes they overlap with), git (commit task seconds: staging reads, fast-import, push, tag), and Airflow
(the rest of the wall time: task start-up, XCom, scheduling, ``airflow`` CLI start-up). Under the
scheduler, tasks run in parallel: there each phase is the wall time its task instances span.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib.pyplot as plt

SCENARIOS = ("full", "incremental", "no-change")
PHASES = {
    "listing": ("prepare", "scan"),
    "export + staging": ("export",),
    "git": ("commit",),
}
COLORS = {"listing": "#4c72b0", "export + staging": "#55a868", "git": "#c44e52", "Airflow": "#8c8c8c"}


def bars(results: list[dict], scenario: str) -> list[tuple[str, dict[str, float], float]]:
    """(label, seconds per phase, floor) of every run of ``scenario``."""
    out = []
    for result in results:
        scale = f"{result['args']['scale']:,}"
        for name, run in result["runs"].items():
            mode, run_scenario = name.split(": ")
            if run_scenario != scenario:
                continue
            durations = (run["summary"] or {}).get("durations_seconds", {})
            if mode == "scheduler":  # tasks run in parallel: the wall time each group of tasks spans
                durations = {t: ti["span_seconds"] for t, ti in run["task_instances"].items()}
            phases = {p: sum(durations.get(t, 0.0) for t in tasks) for p, tasks in PHASES.items()}
            phases["Airflow"] = run["wall_seconds"] - sum(phases.values())
            out.append((f"{scale}\n{mode}", phases, run["floor_seconds"]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", type=Path)
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args()
    results = [json.loads(p.read_text()) for p in args.results]

    fig, axes = plt.subplots(1, len(SCENARIOS), figsize=(13, 4.8))
    for ax, scenario in zip(axes, SCENARIOS, strict=True):
        runs = bars(results, scenario)
        for x, (_, phases, floor) in enumerate(runs):
            bottom = 0.0
            for phase, seconds in phases.items():
                ax.bar(x, seconds, bottom=bottom, color=COLORS[phase], label=phase if x == 0 else None)
                bottom += seconds
            ax.hlines(
                floor, x - 0.45, x + 0.45, colors="black", linestyles="--", label="floor" if x == 0 else None
            )
            ax.text(
                x, bottom, f"{bottom / floor:.2f}x" if floor else "", ha="center", va="bottom", fontsize=8
            )
        ax.set_xticks(range(len(runs)), [label for label, _, _ in runs], fontsize=8)
        ax.set_title(scenario)
        ax.set_ylabel("wall seconds")
    axes[0].legend(fontsize=8, loc="upper left")
    fig.suptitle("Backup DAG: wall time per phase against the rate-limit floor (x = wall / floor)")
    fig.tight_layout()
    fig.savefig(args.output, dpi=120)


if __name__ == "__main__":
    main()
