"""The verify run's summary: drift per year and engagement, rendered for the log and the UI. Pure.

A year whose check did not finish makes the summary incomplete; the run fails when the backup commit
disagrees with its manifest, when anything could not be verified, when content drifted behind an
unchanged ``modified_at`` or when an object is over the export limit: what no backup run heals. The
status says which drift the next backup heals and which it does not. Every name and reason enters the
markdown through :func:`~airflow_gitsync.backup_report.md_escape`: they come from the workspace and the
repository.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from airflow_gitsync.backup_report import md_escape
from airflow_gitsync.layout import engagement_of
from airflow_gitsync.results import CheckTaskResult
from airflow_gitsync.verify import HEALED_BY_NEXT_RUN, KINDS, NEXT_RUN, Drift, VerifyPlan

COLUMNS = ("listed", "checked", *KINDS, "failed")
_SHOWN = 200


@dataclass
class VerifySummary:
    """Aggregated outcome of one verify run."""

    plan: VerifyPlan | None
    per_year: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    per_engagement: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    drift: list[Drift] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)
    api: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    seconds: float = 0.0
    complete: bool = True

    @property
    def totals(self) -> Counter:
        return sum(self.per_year.values(), Counter())

    @property
    def content_drift(self) -> list[Drift]:
        return [d for d in self.drift if d.kind == "content"]

    @property
    def too_large(self) -> list[Drift]:
        return [d for d in self.drift if d.kind == "too-large"]

    @property
    def backup_problem_count(self) -> int:
        return self.plan.backup_problem_count if self.plan else 0

    @property
    def failed(self) -> bool:
        """Whether the run must fail: the backup disagrees with its manifest, content drifted unseen,
        or something was not verified."""
        return bool(
            self.backup_problem_count
            or self.content_drift
            or self.too_large
            or self.failures
            or not self.complete
        )

    def failure(self) -> str | None:
        """Why the run fails, in one bounded line (None: it does not)."""
        if count := self.backup_problem_count:
            return f"the backup disagrees with its manifest in {count} place(s), first: " + "; ".join(
                f"{p.path}: {p.reason}" for p in self.plan.backup_problems[:3]
            )
        if content := self.content_drift:
            return (
                f"content drift: {len(content)} object(s) changed while their modified_at did not, so no "
                "daily backup will export them; run a backup with full_scan to heal it: "
                + ", ".join(d.path for d in content[:10])
            )
        if too_large := self.too_large:
            return (
                f"{len(too_large)} object(s) over Databricks' 10 MB export limit, which no backup can "
                "export: " + ", ".join(d.path for d in too_large[:10])
            )
        if self.failed:
            return f"verify incomplete: {len(self.failures)} not verified, first: " + "; ".join(
                f"{p}: {r}" for p, r in self.failures[:3]
            )
        return None

    def to_dict(self) -> dict:
        plan = self.plan
        problems = plan.backup_problems if plan else []
        return {
            "complete": self.complete,
            "ref": plan and plan.ref,
            "commit": plan and plan.commit,
            "root": plan and plan.root,
            "mode": plan and plan.mode,
            "sample_share": plan and plan.sample.share,
            "seed": plan and plan.sample.seed,
            "totals": {k: self.totals[k] for k in COLUMNS},
            "per_year": {y: {k: c[k] for k in COLUMNS} for y, c in sorted(self.per_year.items())},
            "per_engagement": {e: dict(c) for e, c in sorted(self.per_engagement.items())},
            "drift": [{"path": d.path, "kind": d.kind, "detail": d.detail} for d in self.drift],
            "failures": [{"path": p, "reason": r} for p, r in self.failures],
            "backup_problems": [{"path": p.path, "reason": p.reason} for p in problems],
            "backup_problem_count": self.backup_problem_count,
            "api": {endpoint: dict(c) for endpoint, c in sorted(self.api.items())},
            "seconds": round(self.seconds, 3),
        }


def summarize(
    plan: VerifyPlan | None, checks: Iterable[CheckTaskResult], error: str | None = None
) -> VerifySummary:
    """Combine the year checks; a planned year without a check is a failure with its cause unknown."""
    summary = VerifySummary(plan)
    if plan is None:
        summary.complete = False
        summary.failures.append(("(prepare)", f"the prepare task failed: {error or 'did not finish'}"))
        return summary
    done = set()
    for task in checks:
        check = task.check
        done.add(check.year)
        counts = summary.per_year[check.year or "(root)"]
        counts.update(listed=check.listed, checked=check.checked, failed=len(check.failed))
        for drift in check.drift:
            counts[drift.kind] += 1
            summary.per_engagement[engagement_of(drift.path.split("/")) or "(root)"][drift.kind] += 1
        summary.drift += check.drift
        summary.failures += [(f.path, f.reason) for f in check.failed]
        for endpoint, counters in task.api.items():
            summary.api[endpoint].update(counters)
        summary.seconds += task.metrics.seconds
    for year in plan.years:
        if year.year not in done:
            summary.complete = False
            summary.per_year[year.year or "(root)"]["failed"] += 1
            summary.failures.append((year.year or "(root)", "its check task did not finish"))
    summary.drift.sort(key=lambda d: (d.kind != "content", d.path))
    return summary


def _status(summary: VerifySummary) -> str:
    healed = sum(d.kind in HEALED_BY_NEXT_RUN for d in summary.drift)
    rest = f"; the next backup heals the other {healed:,} difference(s)" if healed else ""
    if count := summary.backup_problem_count:
        return f"**BACKUP BROKEN: its tree disagrees with its manifest in {count} place(s)**"
    if summary.content_drift:
        count = len(summary.content_drift)
        return f"**CONTENT DRIFT: {count} object(s) changed behind an unchanged modified_at**" + (
            f" (a backup with full_scan heals them){rest}"
        )
    if too_large := summary.too_large:
        return (
            f"**NOT BACKED UP: {len(too_large)} object(s) over Databricks' 10 MB export limit**, which no "
            f"backup heals{rest}"
        )
    if summary.failures or not summary.complete:
        return "**INCOMPLETE**: not everything could be verified" + rest
    if healed:
        return f"drift found: the next backup run heals all of it ({healed:,} difference(s))"
    return "in sync: no drift"


def _scope(plan: VerifyPlan) -> str:
    what = (
        "every object"
        if plan.sample.share >= 1
        else f"a sample of {plan.sample.share:.2%} of the objects, seed {plan.sample.seed} "
        f'(trigger with {{"seed": {plan.sample.seed}}} to check the same ones)'
    )
    copy = "" if plan.same_root else f" (a copy of {md_escape(plan.backup_root)}: presence and content only)"
    backup = f"{md_escape(plan.ref)} (commit `{plan.commit[:12]}`)"
    return f"{md_escape(plan.root)}{copy} against {backup}, content of {what}"


def render_markdown(summary: VerifySummary, title: str) -> str:
    """The summary as a markdown page (rendered in the Airflow UI)."""
    lines = [f"# {md_escape(title)}", "", f"Status: {_status(summary)}", ""]
    if summary.plan:
        lines += [f"Compared {_scope(summary.plan)}.", ""]
    lines += ["| year | " + " | ".join(COLUMNS) + " |", "|---" * (len(COLUMNS) + 1) + "|"]
    for year, counts in sorted(summary.per_year.items()):
        lines.append(f"| {md_escape(year)} | " + " | ".join(f"{counts[k]:,}" for k in COLUMNS) + " |")
    totals = summary.totals
    lines.append("| **total** | " + " | ".join(f"**{totals[k]:,}**" for k in COLUMNS) + " |")
    if count := summary.backup_problem_count:
        listed = summary.plan.backup_problems
        lines += ["", f"## The backup disagrees with its manifest ({count}): a restore of it fails there", ""]
        lines += [f"- {md_escape(p.path)}: {md_escape(p.reason)}" for p in listed]
        if count > len(listed):
            lines.append(f"- ... and {count - len(listed)} more")
    if content := summary.content_drift:
        lines += ["", f"## Content drift ({len(content)}): {NEXT_RUN['content']}", ""]
        lines += [f"- **{md_escape(d.path)}**: {md_escape(d.detail)}" for d in content[:_SHOWN]]
    if too_large := summary.too_large:
        lines += ["", f"## Over the export limit ({len(too_large)}): {NEXT_RUN['too-large']}", ""]
        lines += [f"- **{md_escape(d.path)}**: {md_escape(d.detail)}" for d in too_large[:_SHOWN]]
    if summary.per_engagement:
        lines += ["", "## Drift by engagement", ""]
        lines += ["| engagement | " + " | ".join(KINDS) + " |", "|---" * (len(KINDS) + 1) + "|"]
        for engagement, counts in sorted(summary.per_engagement.items())[:_SHOWN]:
            lines.append(f"| {md_escape(engagement)} | " + " | ".join(f"{counts[k]:,}" for k in KINDS) + " |")
    if summary.drift:
        lines += ["", f"## Drift ({len(summary.drift)}) and what the next backup does about it", ""]
        lines += [
            f"- {md_escape(d.path)} {d.kind}: {md_escape(d.detail)}; {NEXT_RUN[d.kind]}"
            for d in summary.drift[:_SHOWN]
        ]
        if len(summary.drift) > _SHOWN:
            lines.append(f"- ... and {len(summary.drift) - _SHOWN} more (see the task's XCom)")
    if summary.failures:
        lines += ["", f"## Not verified ({len(summary.failures)})", ""]
        lines += [f"- {md_escape(path)}: {md_escape(reason)}" for path, reason in summary.failures[:_SHOWN]]
    if summary.api:
        lines += ["", "## Databricks API", "", "| endpoint | calls | 429s | retries |", "|---|---|---|---|"]
        for endpoint, c in sorted(summary.api.items()):
            lines.append(f"| {endpoint} | {c['calls']:,.0f} | {c['http_429']:,.0f} | {c['retries']:,.0f} |")
    return "\n".join(lines) + "\n"


def metrics(summary: VerifySummary) -> Mapping[str, float]:
    """Flat counters for Airflow's ``Stats``, under ``gitsync.verify.``."""
    values: dict[str, float] = {f"objects.{k}": summary.totals[k] for k in ("listed", "checked")}
    values.update({f"drift.{kind}": summary.totals[kind] for kind in KINDS})
    values["failures"] = len(summary.failures)
    values["backup_problems"] = summary.backup_problem_count
    values["task_seconds"] = summary.seconds
    return values
