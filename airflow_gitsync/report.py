"""The run summary: what one backup run did, per year, from the results its tasks returned.

Pure: it reads the plain dicts the tasks put in XCom and renders text for the task log, markdown
for the UI and flat counters for metrics. A result that is missing (its task failed) is counted
as a failure, so a partial run can never read as a complete one.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from airflow_gitsync.layout import unit_of

AZURE_DEVOPS_RECOMMENDED_BYTES = 10 * 1024**3
COUNTS = ("added", "modified", "deleted", "unchanged", "failed", "skipped")


@dataclass
class Summary:
    """Aggregated outcome of one run."""

    per_year: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    failures: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    skipped_types: Counter = field(default_factory=Counter)
    durations: dict[str, float] = field(default_factory=dict)
    peak_rss: dict[str, int] = field(default_factory=dict)
    api: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    commit: dict = field(default_factory=dict)
    complete: bool = True

    @property
    def totals(self) -> Counter:
        total: Counter = Counter()
        for counts in self.per_year.values():
            total.update(counts)
        return total

    def to_dict(self) -> dict:
        return {
            "complete": self.complete,
            "totals": {k: self.totals[k] for k in COUNTS},
            "per_year": {year: {k: c[k] for k in COUNTS} for year, c in sorted(self.per_year.items())},
            "failures": [{"path": p, "reason": r} for p, r in self.failures],
            "warnings": self.warnings,
            "skipped_types": dict(self.skipped_types),
            "durations_seconds": {k: round(v, 3) for k, v in self.durations.items()},
            "peak_rss_bytes": dict(self.peak_rss),
            "api": {endpoint: dict(c) for endpoint, c in sorted(self.api.items())},
            "commit": self.commit,
        }


def _add_timing(summary: Summary, phase: str, result: Mapping) -> None:
    summary.durations[phase] = summary.durations.get(phase, 0.0) + result.get("seconds", 0.0)
    if "peak_rss_bytes" in result:
        summary.peak_rss[phase] = max(summary.peak_rss.get(phase, 0), result["peak_rss_bytes"])


def _add_stats(summary: Summary, stats: Mapping | None) -> None:
    for endpoint, counters in (stats or {}).items():
        summary.api[endpoint].update({k: v for k, v in counters.items() if isinstance(v, int | float)})


def build_summary(
    prepared: Mapping | None,
    scans: Iterable[Mapping],
    planned: Iterable[Mapping] | None,
    exports: Iterable[Mapping],
    committed: Mapping | None,
    export_tasks: Iterable[Mapping] = (),
) -> Summary:
    """Combine every task's result into a :class:`Summary`.

    ``scans`` and ``exports`` (one result per engagement) hold only what succeeded; planned scan
    units or engagements without a result are reported as failed, and the run as incomplete.
    ``export_tasks`` are the export tasks' API stats and timings.
    """
    summary = Summary()
    if prepared is None:
        summary.complete = False
        summary.failures.append(("(prepare)", "the prepare task did not finish"))
        return summary
    _add_timing(summary, "prepare", prepared)

    scanned_units = set()
    for scan in scans:
        unit = scan["unit"]
        scanned_units.add(unit)
        year = summary.per_year[unit or "(root)"]
        summary.skipped_types.update(scan.get("skipped", {}))
        year["skipped"] += sum(scan.get("skipped", {}).values())
        summary.warnings.extend(scan.get("warnings", []))
        for failure in scan.get("failed_listings", []):
            summary.failures.append((failure["path"], failure["reason"]))
            year["failed"] += 1
        year["unchanged"] += scan.get("unchanged", 0)
        _add_timing(summary, "scan", scan)
        _add_stats(summary, scan.get("stats"))
    for unit in prepared.get("units", []):
        if unit["unit"] not in scanned_units:
            summary.complete = False
            summary.failures.append((unit["unit"] or "(root)", "scan task did not finish"))
            summary.per_year[unit["unit"] or "(root)"]["failed"] += 1

    planned_by_partition = {e["partition"]: e for e in planned or []}
    exported = set()
    for result in exports:
        partition = result["partition"]
        exported.add(partition)
        year = summary.per_year[unit_of(partition) or "(root)"]
        reasons = {
            o["repo_path"]: o["reason"] for o in planned_by_partition.get(partition, {}).get("to_export", [])
        }
        for entry in result.get("upserts", []):
            year["added" if reasons.get(entry["repo_path"]) == "added" else "modified"] += 1
        year["deleted"] += len(result.get("deletions", []))
        year["unchanged"] += result.get("unchanged_after_export", 0)
        for failure in result.get("failed", []):
            summary.failures.append((failure["path"], failure["reason"]))
            year["failed"] += 1
    for task in export_tasks:
        _add_timing(summary, "export", task)
        _add_stats(summary, task.get("stats"))
    for partition, planned_changes in planned_by_partition.items():
        if partition not in exported:
            summary.complete = False
            summary.failures.append((partition or "(root)", "export task did not finish"))
            summary.per_year[unit_of(partition) or "(root)"]["failed"] += 1
            for failure in planned_changes.get("failed", []):
                summary.failures.append((failure["path"], failure["reason"]))

    if committed is None:
        summary.complete = False
        summary.failures.append(("(commit)", "the commit task did not finish"))
    else:
        summary.commit = dict(committed)
        _add_timing(summary, "commit", committed)
    return summary


def _size(num: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if num < 1024:
            return f"{num:.0f} {unit}" if unit == "B" else f"{num:.1f} {unit}"
        num /= 1024
    return f"{num:.1f} TiB"


def render_markdown(summary: Summary, title: str) -> str:
    """The summary as a markdown page (rendered in the Airflow UI)."""
    totals = summary.totals
    status = "complete" if summary.complete and not summary.failures else "**INCOMPLETE**"
    lines = [f"# {title}", "", f"Status: {status}", ""]
    lines += ["| year | " + " | ".join(COUNTS) + " |", "|---" * (len(COUNTS) + 1) + "|"]
    for year, counts in sorted(summary.per_year.items()):
        lines.append(f"| {year} | " + " | ".join(f"{counts[k]:,}" for k in COUNTS) + " |")
    lines.append("| **total** | " + " | ".join(f"**{totals[k]:,}**" for k in COUNTS) + " |")
    if summary.failures:
        lines += ["", f"## Failed ({len(summary.failures)})", ""]
        lines += [f"- `{path}`: {reason}" for path, reason in summary.failures[:200]]
        if len(summary.failures) > 200:
            lines.append(f"- ... and {len(summary.failures) - 200} more (see the task log)")
    if summary.warnings:
        lines += ["", f"## Warnings ({len(summary.warnings)})", ""]
        lines += [f"- {w}" for w in summary.warnings[:100]]
    if summary.skipped_types:
        skipped = ", ".join(f"{t}: {n}" for t, n in sorted(summary.skipped_types.items()))
        lines += ["", f"Skipped object types (not notebooks or files): {skipped}"]
    lines += ["", "## Phases", "", "| phase | task seconds |", "|---|---|"]
    lines += [f"| {phase} | {sec:,.1f} |" for phase, sec in summary.durations.items()]
    if summary.api:
        lines += ["", "## Databricks API", "", "| endpoint | calls | 429s | retries |", "|---|---|---|---|"]
        for endpoint, c in sorted(summary.api.items()):
            lines.append(f"| {endpoint} | {c['calls']:,.0f} | {c['http_429']:,.0f} | {c['retries']:,.0f} |")
    commit = summary.commit
    if commit:
        size = commit.get("repo_size_bytes", 0)
        lines += [
            "",
            "## Git",
            "",
            f"- commits: {len(commit.get('commits', []))}, head `{commit.get('head') or '-'}`",
            f"- tag: {commit.get('tag') or 'not created (run incomplete)'}",
            f"- bytes pushed: {_size(commit.get('pushed_bytes', 0))}",
            f"- repository size: {_size(size)} ({size / AZURE_DEVOPS_RECOMMENDED_BYTES:.1%} of Azure DevOps' "
            "10 GB recommendation)",
        ]
        if commit.get("size_warning"):
            lines.append(f"- WARNING: {commit['size_warning']}")
    return "\n".join(lines) + "\n"


def metrics(summary: Summary) -> dict[str, float]:
    """Flat counters and timings for Airflow's ``Stats`` (StatsD / OpenTelemetry)."""
    values: dict[str, float] = {f"notebooks.{k}": v for k, v in summary.totals.items()}
    values.update({f"phase_seconds.{k}": v for k, v in summary.durations.items()})
    for endpoint, c in summary.api.items():
        values[f"api.{endpoint}.calls"] = c["calls"]
        values[f"api.{endpoint}.throttled"] = c["http_429"]
    if summary.commit:
        values["git.pushed_bytes"] = summary.commit.get("pushed_bytes", 0)
        values["git.repo_size_bytes"] = summary.commit.get("repo_size_bytes", 0)
    values["failures"] = len(summary.failures)
    return values
