"""Plots as inline SVG, drawn on the server: no script, no CDN, readable offline.

Every data mark (a day's column of bars, a point of a line, a bar of a ranking) has class ``point`` and
a ``<title>`` (the browser's tooltip) with the numbers behind it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import date
from html import escape

WIDTH = 640
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 64, 20, 50, 28
AXIS = "#8a8f98"
GRID = "#e6e8eb"

Series = tuple[str, str, Sequence[float | None]]
"""A plotted series: its name, colour, and one value per day (None: nothing that day)."""


def _nice_max(value: float, ticks: int = 4) -> float:
    """The smallest round step (1, 2, 2.5, 3, 4, 5, 6, 8 x 10^k) times ``ticks`` that reaches ``value``."""
    if value <= 0:
        return 1.0
    raw = value / ticks
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 3, 4, 5, 6, 8, 10) if m * power >= raw)
    return step * ticks


def _frame(title: str, height: int, body: list[str], legend: Sequence[tuple[str, str]] = ()) -> str:
    items, x = [], PAD_LEFT
    for name, color in legend:  # a row under the title
        items.append(
            f'<rect x="{x}" y="28" width="10" height="10" fill="{color}"/>'
            f'<text x="{x + 14}" y="37" font-size="12">{escape(name)}</text>'
        )
        x += 14 + 7 * len(name) + 12
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" width="100%" '
        f'role="img" aria-label="{escape(title)}" font-family="system-ui, sans-serif" class="chart">'
        f"<title>{escape(title)}</title>"
        f'<text x="{PAD_LEFT}" y="19" font-size="14" font-weight="600">{escape(title)}</text>'
        + "".join(items)
        + "".join(body)
        + "</svg>"
    )


def _y_axis(top: float, height: int, unit: Callable[[float], str]) -> list[str]:
    bottom = height - PAD_BOTTOM
    out = []
    for i in range(5):
        y = bottom - (bottom - PAD_TOP) * i / 4
        out.append(
            f'<line x1="{PAD_LEFT}" x2="{WIDTH - PAD_RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}"/>'
            f'<text x="{PAD_LEFT - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end" fill="{AXIS}">'
            f"{escape(unit(top * i / 4))}</text>"
        )
    return out


def _x_labels(labels: Sequence[str], x_of: Callable[[int], float], height: int) -> list[str]:
    if not labels:
        return []
    step = max(1, math.ceil(len(labels) / 5))
    picks = sorted({*range(0, len(labels), step), len(labels) - 1})
    if len(picks) > 1 and picks[-1] - picks[-2] < step / 2:
        picks.pop(-2)
    anchor = {picks[0]: "start", picks[-1]: "end"} if len(picks) > 1 else {}
    return [
        f'<text x="{x_of(i):.1f}" y="{height - 8}" font-size="11" text-anchor="{anchor.get(i, "middle")}" '
        f'fill="{AXIS}">{escape(labels[i])}</text>'
        for i in picks
    ]


def bars(
    title: str,
    days: Sequence[str],
    series: Sequence[Series],
    unit: Callable[[float], str],
    *,
    missing: Sequence[str] = (),
    marker: Series | None = None,
    height: int = 230,
) -> str:
    """Stacked bars per day (``days`` are their labels: a date, or a range of dates without a run);
    ``missing`` days get a red band, ``marker`` a black tick per day.

    Each series is one path, and each day one transparent column (class ``point``) whose tooltip
    holds the day's values: a page of 400 days stays a few hundred nodes per plot."""
    n = max(1, len(days))
    slot = (WIDTH - PAD_LEFT - PAD_RIGHT) / n
    bottom = height - PAD_BOTTOM

    def x_of(i: int) -> float:
        return PAD_LEFT + slot * (i + 0.5)

    stacks = [sum(values[i] or 0 for _, _, values in series) for i in range(len(days))]
    peaks = stacks + [v or 0 for v in (marker[2] if marker else ())]
    top = _nice_max(max(peaks, default=0))
    scale = (bottom - PAD_TOP) / top
    body = _y_axis(top, height, unit)
    missing_days = set(missing)
    width = max(1.0, slot * 0.8)
    paths: dict[str, list[str]] = {name: [] for name, _, _ in series}
    ticks: list[str] = []
    columns: list[str] = []
    for i, label in enumerate(days):
        day = escape(label)
        left = x_of(i) - slot / 2
        if label in missing_days:
            body.append(
                f'<rect class="missing" data-day="{day}" x="{left:.1f}" y="{PAD_TOP}" width="{slot:.1f}" '
                f'height="{bottom - PAD_TOP}" fill="#d33" fill-opacity="0.18">'
                f"<title>{day}: no run</title></rect>"
            )
            continue
        y = float(bottom)
        shown = []
        for name, _, values in series:
            if value := values[i]:
                h = value * scale
                y -= h
                paths[name].append(f"M{x_of(i) - width / 2:.1f} {y:.1f}h{width:.1f}v{h:.1f}h{-width:.1f}z")
                shown.append(f"{name} {unit(value)}")
        if marker and (value := marker[2][i]) is not None:
            ticks.append(f"M{x_of(i) - width / 2 - 1:.1f} {bottom - value * scale:.1f}h{width + 2:.1f}")
            shown.append(f"{marker[0]} {unit(value)}")
        columns.append(
            f'<rect class="point" x="{left:.1f}" y="{PAD_TOP}" width="{slot:.1f}" '
            f'height="{bottom - PAD_TOP}">'
            f"<title>{day}: {escape(', '.join(shown) or 'nothing')}</title></rect>"
        )
    body += [
        f'<path data-series="{escape(name)}" fill="{color}" d="{"".join(paths[name])}"/>'
        for name, color, _ in series
        if paths[name]
    ]
    if ticks:
        body.append(
            f'<path data-series="{escape(marker[0])}" stroke="{marker[1]}" stroke-width="2" '
            f'd="{"".join(ticks)}"/>'
        )
    body.append(
        f'<line x1="{PAD_LEFT}" x2="{WIDTH - PAD_RIGHT}" y1="{bottom}" y2="{bottom}" stroke="{AXIS}"/>'
    )
    body += _x_labels(days, x_of, height)
    body.append(f'<g fill-opacity="0">{"".join(columns)}</g>')
    legend = [(name, color) for name, color, _ in series] + ([marker[:2]] if marker else [])
    if missing_days:
        legend.append(("no run", "#f0b8b8"))
    return _frame(title, height, body, legend)


def line(
    title: str,
    points: Sequence[tuple[date, float]],
    unit: Callable[[float], str],
    *,
    limit: tuple[str, float],
    trend: tuple[float, float] | None = None,
    note: str = "",
    height: int = 230,
) -> str:
    """Values over time against a limit line (``(label, value)``); ``trend`` is a fitted
    ``(value at the first date, per day)`` drawn dotted across the dates."""
    bottom = height - PAD_BOTTOM
    if not points:
        return _frame(title, height, [f'<text x="{PAD_LEFT}" y="{bottom / 2}">no data</text>'])
    first, last = points[0][0], points[-1][0]
    span = max(1, (last - first).days)
    top = _nice_max(max(limit[1], *(v for _, v in points)) * 1.05)

    def x_of(day: date) -> float:
        return PAD_LEFT + (WIDTH - PAD_LEFT - PAD_RIGHT) * (day - first).days / span

    def y_of(value: float) -> float:
        return bottom - (bottom - PAD_TOP) * value / top

    body = _y_axis(top, height, unit)
    ly = y_of(limit[1])
    body.append(
        f'<line class="limit" x1="{PAD_LEFT}" x2="{WIDTH - PAD_RIGHT}" y1="{ly:.1f}" y2="{ly:.1f}" '
        f'stroke="#d33" stroke-dasharray="6 4" stroke-width="1.5"/>'
        f'<text x="{WIDTH - PAD_RIGHT - 4}" y="{ly - 5:.1f}" font-size="11" text-anchor="end" fill="#d33">'
        f"{escape(limit[0])}</text>"
    )
    if trend:
        start, per_day = trend
        body.append(
            f'<line class="trend" x1="{x_of(first):.1f}" y1="{y_of(start):.1f}" x2="{x_of(last):.1f}" '
            f'y2="{y_of(start + per_day * span):.1f}" stroke="#555" stroke-dasharray="2 3"/>'
        )
    path = " ".join(f"{x_of(d):.1f},{y_of(v):.1f}" for d, v in points)
    body.append(f'<polyline points="{path}" fill="none" stroke="#2f6fbd" stroke-width="2"/>')
    body.append(
        '<g fill="#2f6fbd">'
        + "".join(
            f'<circle class="point" cx="{x_of(day):.1f}" cy="{y_of(value):.1f}" r="2.5">'
            f"<title>{day}: {escape(unit(value))}</title></circle>"
            for day, value in points
        )
        + "</g>"
    )
    body.append(
        f'<line x1="{PAD_LEFT}" x2="{WIDTH - PAD_RIGHT}" y1="{bottom}" y2="{bottom}" stroke="{AXIS}"/>'
    )
    days = sorted({d for d, _ in points})
    body += _x_labels([d.isoformat() for d in days], lambda i: x_of(days[i]), height)
    if note:
        body.append(
            f'<text x="{PAD_LEFT + 8}" y="{PAD_TOP + 14}" font-size="12" fill="#333">{escape(note)}</text>'
        )
    return _frame(title, height, body)


def hbars(title: str, items: Sequence[tuple[str, float, str, bool]], *, empty: str = "none") -> str:
    """Horizontal bars, one per ``(label, value, text, highlight)``; highlighted ones in red."""
    row, label_width = 20, 150
    height = PAD_TOP + max(1, len(items)) * row + 12
    if not items:
        return _frame(
            title, height, [f'<text x="{PAD_LEFT}" y="{PAD_TOP + 14}" font-size="12">{escape(empty)}</text>']
        )
    top = max(v for _, v, _, _ in items)
    room = WIDTH - label_width - PAD_RIGHT - 140
    body = []
    for i, (label, value, text, highlight) in enumerate(items):
        y = PAD_TOP + i * row
        w = max(2.0, room * value / top)
        body.append(
            f'<text x="{label_width - 8}" y="{y + 14}" font-size="12" text-anchor="end">'
            f"{escape(label)}</text>"
            f'<rect class="point" data-series="{escape(label)}" data-value="{value:g}" x="{label_width}" '
            f'y="{y + 3}" width="{w:.1f}" height="{row - 6}" fill="{"#d33" if highlight else "#e8a33d"}">'
            f"<title>{escape(label)}: {escape(text)}</title></rect>"
            f'<text x="{label_width + w + 6:.1f}" y="{y + 14}" font-size="12" fill="#333">'
            f"{escape(text)}</text>"
        )
    legend = [("failing on several dates", "#d33"), ("on one date", "#e8a33d")]
    return _frame(title, height, body, legend)
