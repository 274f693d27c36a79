"""Benchmark: how the backup repository grows over a year of realistic daily edits (issue 28).

A synthetic workspace of ``--notebooks`` SOURCE-format Python notebooks under ``{year}/{engagement}/
NOTEBOOKS/`` (engagements opened from 2019 to the start date; sizes as gitsync_devkit's workspace
generator draws them, 2-20 KB mostly, a tail to 3 MB) is backed up once whole, then every simulated day:

- ~5% of the notebooks (3,500 at 70,000; ``--touched``) are edited, drawn from the open engagements
  only: each gets 1-3 cell edits (a few lines of a cell replaced, a cell appended, now and then a cell
  deleted), so git stores each new version as a small delta;
- ~1,000 new notebooks a month, mostly into engagements opened in the last 90 days; an engagement opens
  about every 1.4 days;
- engagements close after a lifetime (log-normal, median 9 months; 10% never close) and are never
  touched again; a few notebooks are deleted a day.

Each day goes through the real :class:`SnapshotEngine` as the commit task drives it (the day's blobs
indexed into the mirror as one pack, ``engine.apply`` with a tag) and is pushed to a bare repository
on this machine (``file://``). Per day: the pack bytes pushed, and the bytes the remote's objects grew
by before any gc. Every ``--gc-every`` days and at the end, ``git gc`` runs on the remote (as the
server would) and its packed size is recorded. The date 10 GiB is reached is measured when reached,
else extrapolated by a least-squares line through the post-gc sizes of the last ``--fit-days``.

``--layout per-year`` backs the same stream up into one repository per year folder instead (one
engine and mirror each; a day commits only to the years it changes); sizes are summed.

Results are checkpointed after every day into ``<out>/growth-<layout>-<notebooks>-<commit>.json``
(with ``.md`` and ``.png`` at the end, or from a checkpoint with ``--render``). Run from the checkout root:

    .venv/bin/python benchmarks/growth.py [--notebooks 70000] [--days 365] [--layout single|per-year]
    .venv/bin/python benchmarks/growth.py --render results/growth-single-70000-X.json [more.json] -o X.png
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import shutil
import subprocess
import sys
import time
from array import array
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from airflow_gitsync.compat import UTC
from airflow_gitsync.git.packs import PackWriter
from airflow_gitsync.git.sizes import RECOMMENDED_MAX_BYTES
from airflow_gitsync.git.snapshot import ChangeSet, CommitInfo, SnapshotEngine
from airflow_gitsync.manifest import ManifestEntry

HEADER = "# Databricks notebook source\n"
SEPARATOR = "\n\n# COMMAND ----------\n\n"
FIRST_YEAR = 2019
START = date(2026, 7, 1)  # simulated day 1; the first sync is day 0, the day before
NOTEBOOKS_PER_ENGAGEMENT = 47
PACK_NOTEBOOKS = 5_000  # notebooks per pack indexed into a mirror (bounds a first sync's memory)
POOL_LINES = 400_000
_WORDS = (
    "ingest", "revenue", "forecast", "cleanup", "join", "audit", "report", "model", "features", "ledger",
    "invoices", "customers", "churn", "pipeline", "export", "summary", "kpi", "scoring", "margin", "budget",
    "variance", "accrual", "journal", "vendor", "payroll", "asset", "depreciation", "tax", "region",
    "segment", "product", "channel", "cohort", "retention", "pricing", "discount",
)  # fmt: skip
_TABLES = ("sales", "orders", "customers", "gl_entries", "payments", "inventory", "fx_rates", "accounts")
_SCHEMAS = ("finance", "raw", "curated", "audit", "sandbox", "reporting")


def line_pool(seed: int) -> list[str]:
    """Distinct-enough lines of notebook code and markdown, drawn from templates."""
    rng = random.Random(seed)

    def word() -> str:
        return rng.choice(_WORDS)

    def col() -> str:
        return f"{word()}_{rng.choice(('amt', 'id', 'dt', 'cd', 'flag', 'pct', 'name', 'qty'))}"

    def df() -> str:
        return f"df_{word()}{rng.randrange(30)}"

    def table() -> str:
        return f"{rng.choice(_SCHEMAS)}.{rng.choice(_TABLES)}"

    templates = (
        lambda: f'{df()} = spark.read.table("{table()}_{rng.randrange(40)}")',
        lambda: f'{df()} = {df()}.filter(F.col("{col()}") > {rng.randrange(100_000)})',
        lambda: f'{df()} = {df()}.groupBy("{col()}").agg(F.sum("{col()}").alias("total_{word()}"))',
        lambda: f'    .withColumn("{col()}", F.when(F.col("{col()}") == "{word()}", {rng.random():.4f}))',
        lambda: f'{df()} = {df()}.join({df()}, on="{col()}", how="{rng.choice(("left", "inner"))}")',
        lambda: f'display({df()}.orderBy(F.desc("{col()}")).limit({rng.randrange(10, 1000)}))',
        lambda: (
            f"# {word().title()} {word()} {word()} for {rng.randint(2019, 2027)}-{rng.randint(1, 12):02d}"
        ),
        lambda: (
            f"# MAGIC SELECT {col()}, sum({col()}) FROM {table()} WHERE {col()} > {rng.randrange(10_000)}"
        ),
        lambda: f"# MAGIC ## {word().title()} {word()} ({rng.choice(_TABLES)}, step {rng.randrange(1, 60)})",
        lambda: f"{word()}_{word()}_threshold = {rng.uniform(0, 5000):.2f}",
        lambda: f'assert {df()}.count() > {rng.randrange(1000)}, "{word()} {rng.choice(_TABLES)} is short"',
        lambda: f'{df()}.write.mode("overwrite").saveAsTable("{rng.choice(_SCHEMAS)}.{word()}_{col()}")',
    )
    return [rng.choice(templates)() for _ in range(POOL_LINES)]


def notebook_bytes(rng: random.Random) -> int:
    """A notebook's size, as gitsync_devkit's workspace generator draws it (none over the export limit)."""
    roll = rng.random()
    if roll < 0.90:
        return min(20_480, max(2_048, int(rng.lognormvariate(8.8, 0.6))))
    if roll < 0.99:
        return int(20_480 * 10 ** rng.uniform(0, 0.7))
    if roll < 0.999:
        return int(100_000 * 10 ** rng.uniform(0, 1))
    return rng.randint(1_000_000, 3_000_000)


@dataclass
class Notebook:
    path: str
    cells: list[array]  # line numbers in the pool


@dataclass
class Engagement:
    year: int
    name: str
    opened: int  # simulated day
    closes: int | None  # the day it closes for good; None: never within the simulation
    notebooks: list[int] = field(default_factory=list)

    def open_on(self, day: int) -> bool:
        return self.closes is None or day < self.closes


class Workspace:
    """The simulated workspace and its daily edits, deterministic from ``seed``."""

    def __init__(self, notebooks: int, seed: int, touched: int) -> None:
        self.rng = random.Random(seed)
        self.pool = line_pool(seed + 1)
        self.mean_line = sum(map(len, self.pool[:10_000])) / 10_000 + 1
        self.touched = touched
        self.scale = notebooks / 70_000  # arrivals scale with the workspace
        self.notebooks: dict[int, Notebook] = {}
        self.made = 0  # notebooks ever made: the next one's number
        self.engagements: list[Engagement] = []
        span = (START - date(FIRST_YEAR, 1, 1)).days
        count = max(1, round(notebooks / NOTEBOOKS_PER_ENGAGEMENT))
        for opened in sorted(self.rng.randrange(-span, 0) for _ in range(count)):
            self._open(opened)
        weights = [self.rng.uniform(0.3, 1.7) for _ in self.engagements]
        for engagement in self.rng.choices(self.engagements, weights, k=notebooks):
            self._new_notebook(engagement)

    def _scaled(self, count: int) -> int:
        """``count`` at 70,000 notebooks, scaled to this workspace (rounded at random, unbiased)."""
        return int(count * self.scale + self.rng.random())

    def _open(self, day: int) -> Engagement:
        year = (START + timedelta(days=day - 1)).year
        lifetime = (
            None if self.rng.random() < 0.10 else int(self.rng.lognormvariate(5.6, 0.7))
        )  # median 270 d
        closes = None if lifetime is None else day + lifetime
        engagement = Engagement(year, f"ENG-{year}-{len(self.engagements):04d}", day, closes)
        self.engagements.append(engagement)
        return engagement

    def _cell(self, lines: int) -> array:
        return array("I", (self.rng.randrange(POOL_LINES) for _ in range(lines)))

    def _new_notebook(self, engagement: Engagement) -> int:
        lines = max(3, int(notebook_bytes(self.rng) / self.mean_line))
        cells = []
        while lines > 0:
            cells.append(self._cell(min(lines, self.rng.randint(3, 25))))
            lines -= len(cells[-1])
        number = self.made
        self.made += 1
        name = f"{number % 100:02d}_{self.rng.choice(_WORDS)}_{self.rng.choice(_WORDS)}_{number}.py"
        self.notebooks[number] = Notebook(f"{engagement.year}/{engagement.name}/NOTEBOOKS/{name}", cells)
        engagement.notebooks.append(number)
        return number

    def render(self, number: int) -> bytes:
        pool = self.pool
        cells = ("\n".join(pool[i] for i in cell) for cell in self.notebooks[number].cells)
        return (HEADER + SEPARATOR.join(cells) + "\n").encode()

    def _edit(self, notebook: Notebook) -> None:
        """1-3 cell edits: a few lines of a cell replaced (55%), a cell appended (35%), a cell deleted."""
        for _ in range(1 + (self.rng.random() < 0.4) + (self.rng.random() < 0.15)):
            roll = self.rng.random()
            if roll < 0.55 or (roll >= 0.90 and len(notebook.cells) < 3):
                cell = self.rng.choice(notebook.cells)
                for _ in range(self.rng.randint(1, 3)):
                    cell[self.rng.randrange(len(cell))] = self.rng.randrange(POOL_LINES)
            elif roll < 0.90:
                notebook.cells.append(self._cell(self.rng.randint(3, 15)))
            else:
                del notebook.cells[self.rng.randrange(len(notebook.cells))]

    def advance(self, day: int) -> tuple[dict[int, str], list[str], dict]:
        """Simulate ``day``: returns the notebooks to back up (number: repo path), the deleted paths and
        the day's counts."""
        if self.rng.random() < 0.7 * self.scale:  # ~21 engagements a month at 70,000
            self._open(day)
        active = [e for e in self.engagements if e.open_on(day)]
        young = [e for e in active if day - e.opened < 90] or active
        added = [
            self._new_notebook(self.rng.choice(young if self.rng.random() < 0.8 else active))
            for _ in range(self._scaled(self.rng.randint(23, 43)))  # ~1,000 a month at 70,000
        ]
        candidates = [n for e in active for n in e.notebooks if n not in added]
        deleted = self.rng.sample(candidates, min(len(candidates), self._scaled(self.rng.randint(0, 4))))
        for number in deleted:
            engagement = next(e for e in active if number in e.notebooks)
            engagement.notebooks.remove(number)
        gone = set(deleted)
        candidates = [n for n in candidates if n not in gone]
        today = self.rng.randint(self.touched * 9 // 10, self.touched * 11 // 10)
        touched = self.rng.sample(candidates, min(len(candidates), today))
        for number in touched:
            self._edit(self.notebooks[number])
        paths = [self.notebooks.pop(number).path for number in deleted]
        counts = {
            "notebooks": len(self.notebooks), "open_engagements": len(active),
            "open_notebooks": len(candidates), "touched": len(touched), "added": len(added),
            "deleted": len(deleted),
        }  # fmt: skip
        return {n: self.notebooks[n].path for n in [*touched, *added]}, paths, counts


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


def stored_bytes(repo: Path) -> int:
    """Packed plus loose object bytes of ``repo`` (``git count-objects -v``)."""
    stats = dict(line.split(": ") for line in _git(repo, "count-objects", "-v").splitlines())
    return (int(stats["size-pack"]) + int(stats["size"])) * 1024


class Backup:
    """One repository (``single``) or one per year folder (``per-year``), each a bare remote on this
    machine with its own engine and mirror."""

    def __init__(self, workdir: Path, layout: str, mirror_config: list[str]) -> None:
        self.workdir = workdir
        self.layout = layout
        self.mirror_config = mirror_config
        self.engines: dict[str, SnapshotEngine] = {}
        self.log = logging.getLogger("growth")

    def _engine(self, key: str) -> SnapshotEngine:
        if key not in self.engines:
            remote = self.workdir / "remotes" / f"{key}.git"
            subprocess.run(["git", "init", "-q", "--bare", "--initial-branch=main", str(remote)], check=True)
            for setting in ("receive.autogc=false", "gc.auto=0", "uploadpack.allowFilter=true"):
                _git(remote, "config", *setting.split("="))
            engine = SnapshotEngine(f"file://{remote}", cache_dir=self.workdir / "cache", logger=self.log)
            engine.sync()
            for setting in self.mirror_config:
                engine.mirror.git.run("config", *setting.split("=", 1))
            self.engines[key] = engine
        return self.engines[key]

    def remotes(self) -> list[Path]:
        return sorted((self.workdir / "remotes").glob("*.git"))

    def size(self) -> int:
        return sum(stored_bytes(remote) for remote in self.remotes())

    def commit(self, workspace: Workspace, day: int, upserts: dict[int, str], deletions: list[str]) -> dict:
        """Back up one day; returns pack bytes pushed, remote growth and seconds."""
        when = START + timedelta(days=day - 1)
        info = CommitInfo(f"scheduled__{when}", f"{when}T00:00:00+00:00", f"{when}T02:00:00+00:00")
        modified_at = int(datetime(when.year, when.month, when.day, 2, tzinfo=UTC).timestamp()) * 1000
        by_key: dict[str, tuple[dict[int, str], list[str]]] = {}
        for number, path in upserts.items():
            by_key.setdefault(self._key(path), ({}, []))[0][number] = path
        for path in deletions:
            by_key.setdefault(self._key(path), ({}, []))[1].append(path)
        before, pushed, raw, seconds = self.size(), 0, 0, 0.0
        for key, (notebooks, deleted) in sorted(by_key.items()):
            engine = self._engine(key)
            start = time.perf_counter()
            engine.sync()
            entries, items = [], list(notebooks.items())
            for first in range(0, len(items), PACK_NOTEBOOKS):
                with PackWriter() as pack:
                    for number, path in items[first : first + PACK_NOTEBOOKS]:
                        content = workspace.render(number)
                        raw += len(content)
                        blob = pack.put(content)
                        entries.append(
                            ManifestEntry(
                                path, f"/Clients/{path[:-3]}", number, "NOTEBOOK", "PYTHON", modified_at, blob
                            )
                        )
                    engine.mirror.index_pack(pack.finish())
            result = engine.apply(ChangeSet(entries, deleted), info, tag=f"backup/{when}")
            seconds += time.perf_counter() - start
            pushed += result.pushed_bytes
        return {
            "pushed_bytes": pushed, "remote_added_bytes": self.size() - before, "raw_bytes": raw,
            "repositories": len(by_key), "seconds": round(seconds, 2),
        }  # fmt: skip

    def _key(self, path: str) -> str:
        return path.split("/", 1)[0] if self.layout == "per-year" else "single"

    def gc(self) -> dict:
        """``git gc`` on every remote, as the server would; returns the sizes before and after."""
        before, start = self.size(), time.perf_counter()
        for remote in self.remotes():
            _git(remote, "gc", "--quiet")
        return {
            "before_bytes": before,
            "after_bytes": self.size(),
            "seconds": round(time.perf_counter() - start, 1),
        }


def projection(results: dict) -> dict:
    """When the post-gc size reaches 10 GiB: measured if it did, else a least-squares line through the
    post-gc sizes of the last ``fit_days`` simulated days."""
    gcs = results["gc"]
    if reached := next((g for g in gcs if g["after_bytes"] >= RECOMMENDED_MAX_BYTES), None):
        return {"how": "measured", "day": reached["day"], "date": reached["date"]}
    last = gcs[-1]["day"] if gcs else 0
    points = [
        (g["day"], g["after_bytes"]) for g in gcs if g["day"] > 0 and g["day"] >= last - results["fit_days"]
    ]
    if len(points) < 2:
        return {"how": "too few post-gc sizes to fit a line", "points": len(points)}
    mean_x = sum(x for x, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / sum((x - mean_x) ** 2 for x, _ in points)
    intercept = mean_y - slope * mean_x
    day = (RECOMMENDED_MAX_BYTES - intercept) / slope if slope > 0 else None
    return {
        "how": f"linear fit of the post-gc sizes of days {points[0][0]}-{points[-1][0]} ({len(points)})",
        "bytes_per_day": slope, "intercept_bytes": intercept,
        "day": day and round(day), "date": day and str(START + timedelta(days=round(day) - 1)),
        "years_from_start": day and round(day / 365.25, 1),
    }  # fmt: skip


def _mib(value: float) -> str:
    return f"{value / 2**20:,.2f}"


def render_md(results: dict) -> str:
    days = [d for d in results["days"] if d["day"] > 0]
    first = results["days"][0]
    pushed = sorted(d["pushed_bytes"] for d in days)
    added = sorted(d["remote_added_bytes"] for d in days)
    proj = results["projection"]
    lines = [
        f"# Repository growth: {results['layout']}, {results['notebooks']:,} notebooks, "
        f"{len(days)} simulated days (commit {results['commit']})",
        "",
        f"First sync (day 0): {first['notebooks']:,} notebooks, {_mib(first['raw_bytes'])} MiB of source, "
        f"{_mib(first['pushed_bytes'])} MiB pushed, {first['seconds']:.0f} s.",
    ]
    if days:
        mean = sum(pushed) / len(pushed)

        def per_day(key: str) -> float:
            return sum(d[key] for d in days) / len(days)

        lines += [
            f"Daily ({days[0]['date']} to {days[-1]['date']}), on average: {per_day('touched'):,.0f} "
            f"notebooks edited, {per_day('added'):.0f} added, {per_day('deleted'):.1f} deleted; "
            f"{days[-1]['notebooks']:,} notebooks at the end, {days[-1]['open_engagements']} engagements "
            "open.",
            f"Pack bytes pushed a day: median {_mib(pushed[len(pushed) // 2])} MiB, mean {_mib(mean)} MiB, "
            f"max {_mib(pushed[-1])} MiB; total {_mib(sum(pushed))} MiB. The remote's objects grew "
            f"(before gc) by a median {_mib(added[len(added) // 2])} MiB a day. Engine time a day: median "
            f"{sorted(d['seconds'] for d in days)[len(days) // 2]:.1f} s.",
        ]
    lines += [
        "",
        "| simulated day | date | notebooks | size before gc MiB | after `git gc` MiB | gc s |",
        "|---|---|---|---|---|---|",
    ]
    notebooks = {d["day"]: d["notebooks"] for d in results["days"]}
    for g in results["gc"]:
        lines.append(
            f"| {g['day']} | {g['date']} | {notebooks[g['day']]:,} | {_mib(g['before_bytes'])} | "
            f"{_mib(g['after_bytes'])} | {g['seconds']:.0f} |"
        )
    if proj["how"] == "measured":
        lines += ["", f"10 GiB reached (measured): day {proj['day']:,}, {proj['date']}."]
    elif proj.get("day"):
        lines += [
            "",
            f"10 GiB reached ({proj['how']}, {_mib(proj['bytes_per_day'])} MiB a day): day {proj['day']:,}, "
            f"{proj['date']}, {proj['years_from_start']} years after the start.",
        ]
    else:
        lines += ["", f"10 GiB: no date ({proj['how']})."]
    return "\n".join(lines) + "\n"


def plot(all_results: list[dict], output: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 7), sharex=True, height_ratios=(2, 1))
    for results in all_results:
        label = results["layout"]
        days = results["days"]
        top.plot([d["day"] for d in days], [d["stored_bytes"] / 2**30 for d in days], lw=0.8, alpha=0.6,
                 label=f"{label}: stored, before gc")  # fmt: skip
        gcs = results["gc"]
        top.plot(
            [g["day"] for g in gcs],
            [g["after_bytes"] / 2**30 for g in gcs],
            "o-",
            label=f"{label}: after git gc",
        )
        later = [d for d in days if d["day"] > 0]
        bottom.plot(
            [d["day"] for d in later], [d["pushed_bytes"] / 2**20 for d in later], lw=0.8, label=label
        )
    top.set_ylabel("repository size, GiB")
    top.set_ylim(bottom=0)
    top.grid(alpha=0.3)
    top.legend(fontsize=8)
    first = all_results[0]
    top.set_title(
        f"Backup repository growth, {first['notebooks']:,} notebooks, ~{first['touched']:,} edited a day"
    )
    bottom.set_ylabel("pack pushed a day, MiB")
    bottom.set_xlabel(f"simulated day (day 1 = {START})")
    bottom.set_ylim(bottom=0)
    bottom.grid(alpha=0.3)
    if len(all_results) > 1:
        bottom.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(output, dpi=110)


def commit_hash() -> str:
    here = Path(__file__).resolve().parent
    run = subprocess.run(
        ["git", "-C", str(here), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    )
    return run.stdout.strip() or "local"


def simulate(args: argparse.Namespace) -> Path:
    stem = args.out / f"growth-{args.layout}{args.label}-{args.notebooks}-{args.commit}"
    shutil.rmtree(args.workdir, ignore_errors=True)
    args.workdir.mkdir(parents=True)
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    workspace = Workspace(args.notebooks, args.seed, args.touched)
    backup = Backup(args.workdir, args.layout, args.mirror_config)
    results = {
        "layout": args.layout, "notebooks": args.notebooks, "touched": args.touched, "seed": args.seed,
        "commit": args.commit, "start": str(START), "mirror_config": args.mirror_config,
        "gc_every": args.gc_every, "fit_days": args.fit_days, "days": [], "gc": [],
    }  # fmt: skip
    print(f"workspace generated in {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    for day in range(args.days + 1):
        if day == 0:
            upserts = {n: nb.path for n, nb in workspace.notebooks.items()}
            deletions, counts = (
                [],
                {"notebooks": len(upserts), "touched": 0, "added": len(upserts), "deleted": 0},
            )
        else:
            upserts, deletions, counts = workspace.advance(day)
        record = backup.commit(workspace, day, upserts, deletions)
        when = str(START + timedelta(days=day - 1))
        results["days"].append({"day": day, "date": when, **counts, **record, "stored_bytes": backup.size()})
        if day % args.gc_every == 0 or day == args.days:
            results["gc"].append({"day": day, "date": when, **backup.gc()})
        results["projection"] = projection(results)
        results["elapsed_seconds"] = round(time.perf_counter() - started)
        partial = stem.with_suffix(".json.tmp")
        partial.write_text(json.dumps(results, indent=1))
        partial.replace(stem.with_suffix(".json"))
        print(day, json.dumps(results["days"][-1]), file=sys.stderr, flush=True)
    stem.with_suffix(".md").write_text(render_md(results))
    plot([results], stem.with_suffix(".png"))
    return stem


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--notebooks", type=int, default=70_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--touched", type=int, help="notebooks edited a day (default: 5%% of --notebooks)")
    parser.add_argument("--layout", choices=("single", "per-year"), default="single")
    parser.add_argument("--gc-every", type=int, default=30)
    parser.add_argument("--fit-days", type=int, default=180)
    parser.add_argument("--seed", type=int, default=28)
    parser.add_argument(
        "--mirror-config", action="append", default=[], metavar="KEY=VALUE",
        help="git config set in each mirror (e.g. pack.useBitmaps=false), to compare with the defaults",
    )  # fmt: skip
    parser.add_argument("--label", default="", help="added to the results' names (e.g. --label=-nobitmaps)")
    parser.add_argument("--workdir", type=Path, default=Path(".bench/growth"))
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    parser.add_argument("--commit", default=commit_hash())
    parser.add_argument(
        "--render", type=Path, nargs="+", help="results .json files: write .md (each) and a plot"
    )
    parser.add_argument("-o", "--output", type=Path, help="the plot of --render (default: beside the first)")
    args = parser.parse_args()
    if args.render:
        loaded = [json.loads(path.read_text()) for path in args.render]
        for path, results in zip(args.render, loaded, strict=True):
            path.with_suffix(".md").write_text(render_md(results))
        plot(loaded, args.output or args.render[0].with_suffix(".png"))
        return
    args.touched = args.touched or args.notebooks // 20
    args.workdir = args.workdir / args.layout
    stem = simulate(args)
    print(stem.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
