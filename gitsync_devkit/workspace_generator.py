"""Deterministic synthetic Databricks workspace, shaped like ``/Clients/{year}/{engagement-id}/NOTEBOOKS/``.

``generate_workspace(n, seed)`` yields ``GeneratedObject`` records (parents before children). Content is
rendered lazily from a per-object seed, so 70,000 notebooks cost metadata only until someone reads
``obj.content``; the same seed always gives the same bytes.

Besides ordinary notebooks (mostly 2-20 KB, mostly Python) it plants the mess real workspaces have: empty
engagements, workspace FILE objects, names with spaces and non-ASCII characters, a notebook outside
``NOTEBOOKS/``, deeper subfolders, two names differing only by case, a loose notebook directly under a
year folder, LIBRARY and DASHBOARD objects, and a few notebooks near and over the 10 MB export limit.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from airflow_gitsync.compat import UTC

MAX_EXPORT_BYTES = 10_485_760
NOTEBOOK_HEADERS = {
    "PYTHON": "# Databricks notebook source",
    "R": "# Databricks notebook source",
    "SCALA": "// Databricks notebook source",
    "SQL": "-- Databricks notebook source",
}
CELL_SEPARATORS = {
    "PYTHON": "# COMMAND ----------",
    "R": "# COMMAND ----------",
    "SCALA": "// COMMAND ----------",
    "SQL": "-- COMMAND ----------",
}
FILE_TYPES = {"PYTHON": "py", "SCALA": "scala", "SQL": "sql", "R": "r"}
COMMENT_PREFIXES = {"PYTHON": "#", "R": "#", "SCALA": "//", "SQL": "--"}

_LANGUAGE_WEIGHTS = (("PYTHON", 0.70), ("SQL", 0.15), ("SCALA", 0.08), ("R", 0.07))
_WORDS = (
    "ingest", "revenue", "forecast", "cleanup", "join", "audit", "report", "model", "features",
    "ledger", "invoices", "customers", "churn", "pipeline", "export", "summary", "kpi", "scoring",
)  # fmt: skip
_ODD_WORDS = ("Übersicht", "données", "Zürich", "año fiscal", "smörgåsbord", "naïve", "東京", "café")
_TABLES = ("sales", "orders", "customers", "gl_entries", "payments", "inventory", "fx_rates")
_BLOCK_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class GeneratedObject:
    """One workspace object; ``content`` is rendered on access from ``seed`` (exactly ``size`` bytes)."""

    path: str
    object_type: str
    language: str | None = None
    size: int = 0
    seed: int = 0
    created_at: int = 0
    modified_at: int = 0

    @property
    def content(self) -> bytes:
        return render_content(self.object_type, self.language, self.size, self.seed, self.path)


def render_content(object_type: str, language: str | None, size: int, seed: int, path: str = "") -> bytes:
    """The deterministic bytes of a generated NOTEBOOK (SOURCE format) or FILE; empty for other types."""
    if object_type == "NOTEBOOK":
        return render_notebook(language or "PYTHON", size, seed)
    if object_type == "FILE":
        return _render_file(path, size, seed)
    return b""


def render_notebook(language: str, size: int, seed: int) -> bytes:
    """A SOURCE-format notebook of exactly ``size`` bytes (at least the header line)."""
    rng = random.Random(seed)
    separator = f"\n\n{CELL_SEPARATORS[language]}\n\n"
    parts = [NOTEBOOK_HEADERS[language], "\n", _cell(rng, language, 0)]
    total = sum(len(p) for p in parts)
    index = 1
    while total < min(size, _BLOCK_BYTES):
        chunk = separator + _cell(rng, language, index)
        parts.append(chunk)
        total += len(chunk)
        index += 1
    data = "".join(parts).encode()
    if len(data) < size:
        body = data[len(NOTEBOOK_HEADERS[language]) + 1 :]
        repeats = (size - len(data)) // len(body) + 1
        data = data + (separator.encode() + body) * repeats
    return data if len(data) <= size else data[: size - 1] + b"\n"


def _cell(rng: random.Random, language: str, index: int) -> str:
    table = rng.choice(_TABLES)
    limit = rng.randint(1, 100_000)
    comment = COMMENT_PREFIXES[language]
    if rng.random() < 0.15:
        return f"{comment} MAGIC %md\n{comment} MAGIC ## Step {index}: {rng.choice(_WORDS)} {table}"
    if language == "PYTHON":
        return (
            f'df_{index} = spark.read.table("finance.{table}")\n'
            f'df_{index} = df_{index}.filter("amount > {limit}").groupBy("{rng.choice(_WORDS)}").count()\n'
            f"display(df_{index})"
        )
    if language == "SQL":
        column = rng.choice(_WORDS)
        return (
            f"SELECT {column}, sum(amount) AS total\nFROM finance.{table}\nWHERE amount > {limit}\nGROUP BY 1"
        )
    if language == "SCALA":
        return (
            f'val df{index} = spark.table("finance.{table}").filter($"amount" > {limit})\ndisplay(df{index})'
        )
    query = f"SELECT * FROM finance.{table} WHERE amount > {limit}"
    return f'df{index} <- SparkR::sql("{query}")\ndisplay(df{index})'


def _render_file(path: str, size: int, seed: int) -> bytes:
    rng = random.Random(seed)
    csv = path.endswith(".csv")
    lines = ["account,period,amount" if csv else "# Engagement notes"]
    total = len(lines[0]) + 1
    while total < size:
        if csv:
            period = f"{rng.randint(2019, 2025)}-{rng.randint(1, 12):02d}"
            line = f"{rng.randint(1000, 9999)},{period},{rng.random():.4f}"
        else:
            line = (
                f"- {rng.choice(_WORDS)} {rng.choice(_TABLES)}: {rng.choice(_ODD_WORDS)} {rng.randrange(99)}"
            )
        lines.append(line)
        total += len(line.encode()) + 1
    text = ("\n".join(lines) + "\n").encode()[:size].decode("utf-8", "ignore")
    return text.encode().ljust(size, b"\n")


def generate_workspace(
    n: int,
    seed: int = 0,
    root: str = "/Clients",
    years: tuple[int, ...] = (2023, 2024, 2025),
    notebooks_per_engagement: int = 47,
) -> Iterator[GeneratedObject]:
    """Yield directories, notebooks (exactly ``n``), files and other objects, parents first."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if not years:
        raise ValueError("years must not be empty")
    rng = random.Random(seed)
    root = root.rstrip("/") or ""
    plan = _Plan(rng, n, years, max(1, notebooks_per_engagement))
    yield from plan.objects(root)


class _Plan:
    """Decides the layout first (engagements, counts, huge sizes), then renders it in path order."""

    def __init__(self, rng: random.Random, n: int, years: tuple[int, ...], per_engagement: int) -> None:
        self.rng = rng
        self.years = years
        self.messy = n >= 8
        special = 7 if self.messy else 0
        regular = n - special
        engagements = max(1, round(n / per_engagement)) if n else 0
        self.empty = max(1, engagements // 50) if self.messy else 0
        self.engagements = [
            (years[i * len(years) // max(1, engagements + self.empty)], i)
            for i in range(engagements + self.empty)
        ]
        weights = [rng.uniform(0.3, 1.7) for _ in range(engagements)]
        self.counts = [0] * len(self.engagements)
        for index in rng.choices(range(engagements), weights, k=regular) if engagements else ():
            self.counts[index] += 1
        over = max(1, round(n / 2000)) if n >= 50 else 0
        near = round(n / 2000) if n >= 1000 else 0
        picks = rng.sample(range(regular), min(regular, over + near)) if regular else []
        self.huge = {p: rng.randint(MAX_EXPORT_BYTES + 1, 12_000_000) for p in picks[:over]}
        self.huge |= {p: rng.randint(10_000_000, MAX_EXPORT_BYTES) for p in picks[over:]}
        self.notebook_index = 0

    def objects(self, root: str) -> Iterator[GeneratedObject]:
        by_year: dict[int, list[int]] = {}
        for position, (year, _) in enumerate(self.engagements):
            by_year.setdefault(year, []).append(position)
        for year in self.years:
            yield self._dir(f"{root}/{year}", year)
            if self.messy and year == self.years[0]:
                yield self._notebook(f"{root}/{year}/Untitled Notebook {year}-03-14 10_42_17", year)
            for position in by_year.get(year, []):
                yield from self._engagement(root, position)

    def _engagement(self, root: str, position: int) -> Iterator[GeneratedObject]:
        year, number = self.engagements[position]
        name = f"ENG-{year}-{number:04d}"
        if self.messy and number == 1:
            name += " Zürich AG"
        base = f"{root}/{year}/{name}"
        yield self._dir(base, year)
        is_empty = position >= len(self.engagements) - self.empty
        if is_empty and position % 2:
            return  # an engagement folder without any NOTEBOOKS folder at all
        yield self._dir(f"{base}/NOTEBOOKS", year)
        if is_empty:
            return
        for index in range(self.counts[position]):
            yield self._notebook(f"{base}/NOTEBOOKS/{self._name(index)}", year)
        if number % 10 == 3:
            yield self._file(f"{base}/NOTEBOOKS/README.md", year)
            yield self._dir(f"{base}/NOTEBOOKS/data", year)
            yield self._file(f"{base}/NOTEBOOKS/data/account mapping.csv", year)
        if self.messy and number == 0:
            yield from self._mess(base, year)

    def _mess(self, base: str, year: int) -> Iterator[GeneratedObject]:
        yield self._notebook(f"{base}/scratch notebook", year)
        yield self._notebook(f"{base}/NOTEBOOKS/Report", year)
        yield self._notebook(f"{base}/NOTEBOOKS/report", year)
        yield self._notebook(f"{base}/NOTEBOOKS/Übersicht Umsätze (Q3)", year)
        yield self._notebook(f"{base}/NOTEBOOKS/données clients - été", year)
        yield self._dir(f"{base}/NOTEBOOKS/archive", year)
        yield self._dir(f"{base}/NOTEBOOKS/archive/{year} Q1", year)
        yield self._notebook(f"{base}/NOTEBOOKS/archive/{year} Q1/old analysis", year)
        yield self._other(f"{base}/NOTEBOOKS/shared-utils", "LIBRARY", year)
        yield self._other(f"{base}/NOTEBOOKS/Overview.lvdash.json", "DASHBOARD", year)

    def _name(self, index: int) -> str:
        first, second = self.rng.choice(_WORDS), self.rng.choice(_WORDS)
        roll = self.rng.random()
        if roll < 0.04:
            return f"{index:02d} {self.rng.choice(_ODD_WORDS)} {first}"
        if roll < 0.30:
            return f"{index:02d} {first.title()} {second}"
        return f"{index:02d}_{first}_{second}"

    def _times(self, year: int) -> tuple[int, int]:
        start = int(datetime(year, 1, 1, tzinfo=UTC).timestamp() * 1000)
        created = start + self.rng.randrange(300 * 86_400_000)
        return created, created + self.rng.randrange(60 * 86_400_000)

    def _dir(self, path: str, year: int) -> GeneratedObject:
        created, modified = self._times(year)
        return GeneratedObject(path, "DIRECTORY", created_at=created, modified_at=modified)

    def _notebook(self, path: str, year: int) -> GeneratedObject:
        language = self.rng.choices(
            [lang for lang, _ in _LANGUAGE_WEIGHTS], [w for _, w in _LANGUAGE_WEIGHTS]
        )[0]
        size = self.huge.get(self.notebook_index) or self._size()
        self.notebook_index += 1
        created, modified = self._times(year)
        return GeneratedObject(path, "NOTEBOOK", language, size, self.rng.getrandbits(32), created, modified)

    def _file(self, path: str, year: int) -> GeneratedObject:
        created, modified = self._times(year)
        size = self.rng.randint(200, 30_000)
        return GeneratedObject(path, "FILE", None, size, self.rng.getrandbits(32), created, modified)

    def _other(self, path: str, object_type: str, year: int) -> GeneratedObject:
        created, modified = self._times(year)
        return GeneratedObject(path, object_type, None, 0, 0, created, modified)

    def _size(self) -> int:
        roll = self.rng.random()
        if roll < 0.90:
            return min(20_480, max(2_048, int(self.rng.lognormvariate(8.8, 0.6))))
        if roll < 0.99:
            return int(20_480 * 10 ** self.rng.uniform(0, 0.7))
        if roll < 0.999:
            return int(100_000 * 10 ** self.rng.uniform(0, 1))
        return self.rng.randint(1_000_000, 3_000_000)
