"""The run summary: what one backup run did, per year, from the results its tasks returned.

Pure: it reads the typed records the tasks returned and renders markdown for the task log and the
UI, and flat counters for metrics. A result that is missing (its task failed) is counted
as a failure, so a partial run can never read as a complete one. Every name and reason enters the
markdown through :func:`md_escape`: they come from the workspace and the repository.
"""

from __future__ import annotations

import re
import string
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from airflow_gitsync.git.runner import redact_url
from airflow_gitsync.git.sizes import RECOMMENDED_MAX_BYTES
from airflow_gitsync.layout import year_of
from airflow_gitsync.results import (
    CommitResult,
    ExportTaskResult,
    PlanResult,
    PrepareResult,
    Repository,
    RepositoryResult,
    RepoState,
    TaskMetrics,
    to_xcom,
)
from airflow_gitsync.workspace.scan import ScanResult

COUNTS = ("added", "modified", "deleted", "unchanged", "failed", "skipped")
_PUNCTUATION = re.compile(f"([{re.escape(string.punctuation)}])")
_LINE_BREAKS = str.maketrans({"\n": "\u240a", "\r": "\u240d"})
_ESCAPED = re.compile(f"\\\\([{re.escape(string.punctuation)}])")


def md_escape(text: object) -> str:
    """``text`` as literal inline markdown: every ASCII punctuation character backslash-escaped (as
    CommonMark allows), so no link, image, HTML, code, emphasis, table cell or autolink can start, and
    CR and LF shown as ␍ and ␊, so no block can start."""
    return _PUNCTUATION.sub(r"\\\1", str(text).translate(_LINE_BREAKS))


def md_source(markdown: str) -> str:
    """Markdown as a reader reads its source: :func:`md_escape`'s backslashes removed. Only for where
    it is shown as text, never rendered: the task log, and Airflow 3's rendered fields, which show
    every field as code (they ignore ``template_fields_renderers``)."""
    return _ESCAPED.sub(r"\1", markdown)


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
    folder_exports: int = 0
    fallbacks: list[tuple[str, str]] = field(default_factory=list)
    repositories: list[dict] = field(default_factory=list)  # a repository per year: one row each

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
            "folder_exports": self.folder_exports,
            "fallbacks": [{"engagement": e, "reason": r} for e, r in self.fallbacks],
            "repositories": self.repositories,
        }


def _repository_row(repository: Repository, result: RepositoryResult | None) -> dict:
    """One repository of a sharded run, as the summary (and the Backups view) holds it."""
    git = result.git if result else None
    return {
        "shard": repository.shard,
        "url": redact_url(repository.url),
        "state": repository.state.value,
        "tag": git.tag if git else None,
        "pushed_bytes": git.pushed_bytes if git else 0,
        "repo_size_bytes": git.repo_size_bytes if git else None,
        "size_warning": git.size_warning if git else None,
        "closed": result.archived if result else None,
        "error": (result.error if result else "") or repository.reason,
    }


def _add_timing(summary: Summary, phase: str, metrics: TaskMetrics | None) -> None:
    if metrics is None:
        return
    summary.durations[phase] = summary.durations.get(phase, 0.0) + metrics.seconds
    summary.peak_rss[phase] = max(summary.peak_rss.get(phase, 0), metrics.peak_rss_bytes)


def _add_api(summary: Summary, api: Mapping[str, Mapping[str, float]]) -> None:
    for endpoint, counters in api.items():
        summary.api[endpoint].update(counters)


def build_summary(
    prepared: PrepareResult | None,
    scans: Iterable[ScanResult],
    planned: PlanResult | None,
    export_tasks: Iterable[ExportTaskResult],
    committed: CommitResult | None,
    errors: Mapping[str, str] | None = None,
) -> Summary:
    """Combine every task's result into a :class:`Summary`.

    ``scans`` and ``export_tasks`` hold only what succeeded; planned years or engagements without
    a result are reported as failed, and the run as incomplete. ``errors`` maps a task id to the
    error it failed with, so that a task that did not finish is reported with its cause.
    """
    summary = Summary()
    errors = errors or {}

    def did_not_finish(task_id: str) -> str:
        error = errors.get(task_id)
        return f"the {task_id} task failed: {error}" if error else f"the {task_id} task did not finish"

    if prepared is None:
        summary.complete = False
        summary.failures.append(("(prepare)", did_not_finish("prepare")))
        return summary
    _add_timing(summary, "prepare", prepared.metrics)
    if any(r.shard for r in prepared.repositories):
        done = {r.shard: r for r in committed.repositories} if committed else {}
        summary.repositories = [_repository_row(r, done.get(r.shard)) for r in prepared.repositories]
        for r in prepared.repositories:
            if r.state is RepoState.MISSING:
                summary.complete = False
                summary.failures.append((f"(repository {r.shard})", r.reason))

    scanned_years = set()
    for scan in scans:
        scanned_years.add(scan.year)
        year = summary.per_year[scan.year or "(root)"]
        summary.skipped_types.update(scan.skipped)
        year["skipped"] += sum(scan.skipped.values())
        summary.warnings.extend(scan.warnings)
        for failure in scan.failed_listings:
            summary.failures.append((failure.path, failure.reason))
            year["failed"] += 1
        year["unchanged"] += scan.unchanged
    for slice_ in prepared.years:
        if slice_.year not in scanned_years:
            summary.complete = False
            summary.failures.append((slice_.year or "(root)", "scan task did not finish"))
            summary.per_year[slice_.year or "(root)"]["failed"] += 1

    if planned is None:
        summary.complete = False
        summary.failures.append(("(plan)", did_not_finish("plan")))
    exported = set()
    for task in export_tasks:
        _add_timing(summary, task.phase, task.metrics)
        _add_api(summary, task.api)
        for result in task.exports:
            exported.add(result.engagement)
            year = summary.per_year[year_of(result.engagement) or "(root)"]
            year["added"] += result.added
            year["modified"] += result.modified
            year["unchanged"] += result.unchanged
            year["deleted"] += len(result.deletions)
            for failure in result.failed:
                summary.failures.append((failure.path, failure.reason))
                year["failed"] += 1
            summary.folder_exports += result.folder_export
            if result.fallback:
                summary.fallbacks.append((result.engagement, result.fallback))
    for engagement in planned.engagements if planned else ():
        if engagement.engagement not in exported:
            summary.complete = False
            summary.failures.append((engagement.engagement or "(root)", "export task did not finish"))
            summary.per_year[year_of(engagement.engagement) or "(root)"]["failed"] += 1
            summary.failures.extend((f.path, f.reason) for f in engagement.failed)

    if committed is None:
        summary.complete = False
        summary.failures.append(("(commit)", did_not_finish("commit")))
    else:
        summary.commit = to_xcom(committed.git) | {
            "complete": committed.complete,
            "missing_engagements": committed.missing_engagements,
        }
        _add_timing(summary, "commit", committed.metrics)
    return summary


def human_size(num: float) -> str:
    """``512 B``, ``3.4 MiB``: a byte count as the report and the Backups view show it."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if num < 1024:
            return f"{num:.0f} {unit}" if unit == "B" else f"{num:.1f} {unit}"
        num /= 1024
    return f"{num:.1f} TiB"


def render_markdown(summary: Summary, title: str) -> str:
    """The summary as a markdown page (rendered in the Airflow UI)."""
    totals = summary.totals
    status = "complete" if summary.complete and not summary.failures else "**INCOMPLETE**"
    lines = [f"# {md_escape(title)}", "", f"Status: {status}", ""]
    lines += ["| year | " + " | ".join(COUNTS) + " |", "|---" * (len(COUNTS) + 1) + "|"]
    for year, counts in sorted(summary.per_year.items()):
        lines.append(f"| {md_escape(year)} | " + " | ".join(f"{counts[k]:,}" for k in COUNTS) + " |")
    lines.append("| **total** | " + " | ".join(f"**{totals[k]:,}**" for k in COUNTS) + " |")
    if summary.failures:
        lines += ["", f"## Failed ({len(summary.failures)})", ""]
        lines += [f"- {md_escape(path)}: {md_escape(reason)}" for path, reason in summary.failures[:200]]
        if len(summary.failures) > 200:
            lines.append(f"- ... and {len(summary.failures) - 200} more (see the task log)")
    if summary.warnings:
        lines += ["", f"## Warnings ({len(summary.warnings)})", ""]
        lines += [f"- {md_escape(w)}" for w in summary.warnings[:100]]
    if summary.folder_exports:
        lines += ["", f"Engagements exported as one folder: {summary.folder_exports:,}"]
    if summary.fallbacks:
        lines += [
            "",
            f"## Folder exports that fell back to one call per object ({len(summary.fallbacks)})",
            "",
        ]
        lines += [
            f"- {md_escape(engagement)}: {md_escape(reason)}"
            for engagement, reason in summary.fallbacks[:100]
        ]
    if summary.skipped_types:
        skipped = ", ".join(f"{md_escape(t)}: {n}" for t, n in sorted(summary.skipped_types.items()))
        lines += ["", f"Skipped object types (not notebooks or files): {skipped}"]
    lines += ["", "## Phases", "", "| phase | task seconds |", "|---|---|"]
    lines += [f"| {phase} | {sec:,.1f} |" for phase, sec in summary.durations.items()]
    if summary.api:
        lines += ["", "## Databricks API", "", "| endpoint | calls | 429s | retries |", "|---|---|---|---|"]
        for endpoint, c in sorted(summary.api.items()):
            lines.append(f"| {endpoint} | {c['calls']:,.0f} | {c['http_429']:,.0f} | {c['retries']:,.0f} |")
    commit = summary.commit
    if commit:
        size = commit.get("repo_size_bytes")
        lines += [
            "",
            "## Git",
            "",
            f"- commits: {len(commit.get('commits', []))}, head {md_escape(commit.get('head') or '-')}",
            f"- tag: {md_escape(commit.get('tag') or 'not created (run incomplete)')}",
            f"- bytes pushed: {human_size(commit.get('pushed_bytes', 0))}",
            f"- repository size: {human_size(size)} ({size / RECOMMENDED_MAX_BYTES:.1%} of Azure DevOps' "
            "10 GB recommendation)"
            if size is not None
            else "- repository size: not measured (a blobless mirror, ADR 0006, and no Azure DevOps REST "
            "API at this URL or an SSH connection)",
        ]
        if commit.get("size_warning"):
            lines.append(f"- WARNING: {md_escape(commit['size_warning'])}")
    if summary.repositories:
        lines += [
            "",
            "## Repositories",
            "",
            "| year | state | tag | pushed | size | note |",
            "|---" * 6 + "|",
        ]
        for row in summary.repositories:
            size = row["repo_size_bytes"]
            shown = "-" if size is None else f"{human_size(size)} ({size / RECOMMENDED_MAX_BYTES:.1%})"
            note = row["error"] or (
                f"closed: {row['closed']}" if row["closed"] else row["size_warning"] or ""
            )
            cells = [
                row["shard"],
                row["state"],
                row["tag"] or "-",
                human_size(row["pushed_bytes"]),
                shown,
                note,
            ]
            lines.append("| " + " | ".join(md_escape(str(c)) for c in cells) + " |")
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
        if (size := summary.commit.get("repo_size_bytes")) is not None:
            values["git.repo_size_bytes"] = size
    values["failures"] = len(summary.failures)
    values["folder_exports"] = summary.folder_exports
    values["folder_export_fallbacks"] = len(summary.fallbacks)
    return values
