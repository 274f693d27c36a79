"""Two versions of a notebook compared line by line, as escaped HTML (unified or side by side). Pure.

Bounded: a side over :data:`MAX_BYTES` or :data:`MAX_LINES` is not compared (the page says so and
how big it is), and at most :data:`MAX_ROWS` rows are rendered, so no version can make the server
build an unbounded answer or compute for long: ``difflib`` is quadratic on lines that repeat often
(but under 1% of a side, which its junk heuristic skips); at 5,000 lines the worst measured 1.2 s.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from html import escape

MAX_BYTES = 1 << 20  # bytes of each side
MAX_LINES = 5_000  # lines of each side
MAX_ROWS = 2_000  # rows rendered
CONTEXT = 3  # unchanged lines shown around a change


@dataclass(frozen=True)
class Row:
    """One row: ``kind`` is ``same``, ``del``, ``add``, ``change`` (a line replaced: both sides) or
    ``gap`` (unchanged lines left out); line numbers start at 1, None where a side has no line."""

    kind: str
    old_no: int | None
    old: str
    new_no: int | None
    new: str


@dataclass(frozen=True)
class Comparison:
    rows: list[Row]
    added: int
    removed: int
    cut: int  # changed or context rows not rendered beyond MAX_ROWS
    too_large: str | None  # why the versions were not compared


def _lines(data: bytes | None) -> list[str]:
    return data.decode("utf-8", errors="replace").splitlines() if data else []


def compare(old: bytes | None, new: bytes | None) -> Comparison:
    """The rows of a diff of ``old`` against ``new`` (None: no such version), changes with context."""
    for side, data in (("older", old), ("newer", new)):
        if data and len(data) > MAX_BYTES:
            return Comparison([], 0, 0, 0, f"the {side} version is {len(data):,} bytes, over {MAX_BYTES:,}")
    a, b = _lines(old), _lines(new)
    for side, lines in (("older", a), ("newer", b)):
        if len(lines) > MAX_LINES:
            return Comparison([], 0, 0, 0, f"the {side} version has {len(lines):,} lines, over {MAX_LINES:,}")
    rows: list[Row] = []
    added = removed = cut = 0
    for n, group in enumerate(difflib.SequenceMatcher(None, a, b).get_grouped_opcodes(CONTEXT)):
        if n or group[0][1] or group[0][3]:
            rows.append(Row("gap", None, "", None, ""))
        for tag, i1, i2, j1, j2 in group:
            removed += i2 - i1 if tag != "equal" else 0
            added += j2 - j1 if tag != "equal" else 0
            for k in range(max(i2 - i1, j2 - j1)):
                i, j = i1 + k if i1 + k < i2 else None, j1 + k if j1 + k < j2 else None
                kind = (
                    "same"
                    if tag == "equal"
                    else "change"
                    if i is not None and j is not None
                    else "del"
                    if j is None
                    else "add"
                )
                rows.append(
                    Row(
                        kind,
                        None if i is None else i + 1,
                        a[i] if i is not None else "",
                        None if j is None else j + 1,
                        b[j] if j is not None else "",
                    )
                )
    if len(rows) > MAX_ROWS:
        cut, rows = len(rows) - MAX_ROWS, rows[:MAX_ROWS]
    return Comparison(rows, added, removed, cut, None)


def _no(number: int | None) -> str:
    return "" if number is None else str(number)


def unified_html(comparison: Comparison) -> str:
    """A table: old and new line numbers, then the line, removed lines before added ones."""
    out = []
    for row in comparison.rows:
        if row.kind == "gap":
            out.append('<tr class="gap"><td></td><td></td><td>…</td></tr>')
            continue
        if row.kind in ("del", "change"):
            out.append(f'<tr class="del"><td>{row.old_no}</td><td></td><td>- {escape(row.old)}</td></tr>')
        if row.kind in ("add", "change"):
            out.append(f'<tr class="add"><td></td><td>{row.new_no}</td><td>+ {escape(row.new)}</td></tr>')
        if row.kind == "same":
            out.append(f"<tr><td>{row.old_no}</td><td>{row.new_no}</td><td>  {escape(row.old)}</td></tr>")
    return f'<table class="diff unified">{"".join(out)}</table>'


def split_html(comparison: Comparison) -> str:
    """A table: the older version on the left, the newer on the right, changed lines side by side."""
    out = []
    for row in comparison.rows:
        if row.kind == "gap":
            out.append('<tr class="gap"><td></td><td>…</td><td></td><td>…</td></tr>')
            continue
        left = "del" if row.kind in ("del", "change") else ""
        right = "add" if row.kind in ("add", "change") else ""
        out.append(
            f'<tr><td>{_no(row.old_no)}</td><td class="{left}">{escape(row.old)}</td>'
            f'<td>{_no(row.new_no)}</td><td class="{right}">{escape(row.new)}</td></tr>'
        )
    return f'<table class="diff split">{"".join(out)}</table>'
