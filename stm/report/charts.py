"""Inline SVG charts for the HTML report: pure functions from numbers and labels to markup, no script, no network.

Every label that may come from data is HTML-escaped here, so a hostile job or workspace name is shown as text.
Charts scale to their container (``viewBox`` plus ``width: 100%``); native SVG ``<title>`` elements give tooltips.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

PALETTE = (
    "#2563eb",
    "#f59e0b",
    "#10b981",
    "#ef4444",
    "#8b5cf6",
    "#06b6d4",
    "#ec4899",
    "#84cc16",
    "#f97316",
    "#64748b",
)
OTHER_COLOR = "#cbd5e1"
AXIS_COLOR = "#94a3b8"
GRID_COLOR = "#e2e8f0"
TEXT_COLOR = "#334155"
FONT = 'font-family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif"'
WIDE_CHARS = frozenset("ABCDEFGHKNOQRUVXYZmw@%_")

Formatter = Callable[[float], str]


@dataclass(frozen=True)
class Series:
    """One named series of values, aligned with the chart's categories."""

    name: str
    values: Sequence[float]
    color: str = ""


def esc(value: object) -> str:
    """HTML-escape any value (quotes too, so it is safe in attributes)."""
    return escape(str(value), quote=True)


def money(value: float | None, digits: int = 2) -> str:
    """``$1,234.56``; ``-$5.00``; ``n/a`` for a missing value."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    sign = "-" if value < 0 else ""
    return f"{sign}${abs(value):,.{digits}f}"


def money_short(value: float) -> str:
    """Compact money for axes and tiles: ``$950``, ``$1.5K``, ``$12.3K``, ``$4.56M``."""
    sign = "-" if value < 0 else ""
    v = abs(value)
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if v >= limit:
            digits = f"{v / limit:,.{1 if v / limit >= 10 else 2}f}".rstrip("0").rstrip(".")
            return f"{sign}${digits}{suffix}"
    return f"{sign}${v:,.0f}" if v >= 100 or v == round(v) else f"{sign}${v:,.2f}"


def percent(value: float | None, digits: int = 1) -> str:
    """A ratio as a percentage: ``0.123`` -> ``12.3%``; ``n/a`` when missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value * 100:.{digits}f}%"


def text_width(text: str, size: float = 12.0) -> float:
    """Approximate rendered width of ``text`` in a sans-serif font (wide letters count more), for layout."""
    units = sum(0.78 if c in WIDE_CHARS else 0.34 if c in "iljtf.,:;|!' " else 0.6 for c in text)
    return units * size


def color_of(i: int, series: Series | None = None) -> str:
    if series is not None and series.color:
        return series.color
    return PALETTE[i % len(PALETTE)]


def nice_ticks(top: float, count: int = 4) -> list[float]:
    """Round axis ticks from 0 to at least ``top`` (``count`` steps of 1, 2, 2.5 or 5 times a power of ten)."""
    if top <= 0 or math.isnan(top):
        return [0.0, 1.0]
    raw = top / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    n = math.ceil(top / step - 1e-9)
    return [i * step for i in range(n + 1)]


def legend(series: Sequence[Series]) -> str:
    """An HTML legend: a swatch and the (escaped) name per series."""
    swatch = '<span class="legend-item"><span class="swatch" style="background:{}"></span>{}</span>'
    items = "".join(swatch.format(color_of(i, s), esc(s.name)) for i, s in enumerate(series))
    return f'<div class="legend">{items}</div>'


def _svg(width: float, height: float, body: str, label: str) -> str:
    return (
        f'<svg class="chart" viewBox="0 0 {width:.0f} {height:.0f}" role="img" aria-label="{esc(label)}" '
        f'xmlns="http://www.w3.org/2000/svg" {FONT} font-size="12">{body}</svg>'
    )


class _Axes:
    """The plot area of a vertical chart: margins, round y ticks from 0, gridlines and the baseline."""

    left, right, top, bottom = 64, 14, 12, 28

    def __init__(self, width: int, height: int, top_value: float, fmt: Formatter) -> None:
        self.width, self.height, self.fmt = width, height, fmt
        self.ticks = nice_ticks(top_value)
        self.plot_h = height - self.top - self.bottom
        self.plot_w = width - self.left - self.right

    def y(self, value: float) -> float:
        return self.top + self.plot_h - value / self.ticks[-1] * self.plot_h

    def hline(self, y: float, stroke: str) -> str:
        return f'<line x1="{self.left}" x2="{self.width - self.right}" y1="{y:.1f}" y2="{y:.1f}" stroke="{stroke}"/>'

    def grid(self) -> str:
        anchor = f'x="{self.left - 8}" text-anchor="end" fill="{TEXT_COLOR}"'
        return "".join(
            self.hline(self.y(t), GRID_COLOR) + f'<text {anchor} y="{self.y(t) + 4:.1f}">{esc(self.fmt(t))}</text>'
            for t in self.ticks
        )

    def finish(self, parts: list[str], categories: Sequence[str], x_of: Callable[[int], float], label: str) -> str:
        """The chart's SVG: ``parts`` drawn over the grid, then the baseline and the category labels."""
        y0 = self.y(0)
        base = (
            f'<line x1="{self.left}" x2="{self.width - self.right}" y1="{y0:.1f}" y2="{y0:.1f}" stroke="{AXIS_COLOR}"/>'
        )
        labels = _x_labels(categories, x_of, self.height - 8, max_labels=max(2, int(self.plot_w / 75)))
        return _svg(self.width, self.height, self.grid() + "".join(parts) + base + labels, label)


def _x_labels(categories: Sequence[str], x_of: Callable[[int], float], y: float, max_labels: int) -> str:
    every = max(1, math.ceil(len(categories) / max_labels))
    return "".join(
        f'<text x="{x_of(i):.1f}" y="{y:.1f}" text-anchor="middle" fill="{TEXT_COLOR}">{esc(c)}</text>'
        for i, c in enumerate(categories)
        if i % every == 0
    )


def stacked_bars(
    categories: Sequence[str],
    series: Sequence[Series],
    *,
    label: str,
    fmt: Formatter = money_short,
    tip: Formatter = money,
    width: int = 1100,
    height: int = 300,
) -> str:
    """Vertical bars per category, one stacked segment per series (negative values are drawn as 0)."""
    totals = [sum(max(0.0, float(s.values[i])) for s in series) for i in range(len(categories))]
    axes = _Axes(width, height, max(totals, default=0.0), fmt)
    slot = axes.plot_w / max(1, len(categories))
    bar_w = max(2.0, slot * 0.72)

    def x_mid(i: int) -> float:
        return axes.left + slot * (i + 0.5)

    parts = []
    for i, category in enumerate(categories):
        base = 0.0
        for j, s in enumerate(series):
            v = max(0.0, float(s.values[i]))
            if v <= 0:
                continue
            y_hi, y_lo = axes.y(base + v), axes.y(base)
            parts.append(
                f'<rect x="{x_mid(i) - bar_w / 2:.1f}" y="{y_hi:.1f}" width="{bar_w:.1f}" '
                f'height="{max(0.5, y_lo - y_hi):.1f}" fill="{color_of(j, s)}">'
                f"<title>{esc(category)} | {esc(s.name)}: {esc(tip(float(s.values[i])))}</title></rect>"
            )
            base += v
    return axes.finish(parts, categories, x_mid, label)


def line_chart(
    categories: Sequence[str],
    series: Sequence[Series],
    *,
    label: str,
    fmt: Formatter = percent,
    tip: Formatter = percent,
    width: int = 1100,
    height: int = 260,
) -> str:
    """One line with point markers per series; a missing value (NaN) breaks the line."""
    values = [float(v) for s in series for v in s.values if not math.isnan(float(v))]
    axes = _Axes(width, height, max(values, default=0.0), fmt)
    step = axes.plot_w / max(1, len(categories) - 1)

    def x_of(i: int) -> float:
        return axes.left + step * i if len(categories) > 1 else axes.left + axes.plot_w / 2

    parts = []
    for j, s in enumerate(series):
        color = color_of(j, s)
        runs: list[list[str]] = [[]]
        for i, raw in enumerate(s.values):
            v = float(raw)
            if math.isnan(v):
                runs.append([])
                continue
            runs[-1].append(f"{x_of(i):.1f},{axes.y(v):.1f}")
            parts.append(
                f'<circle cx="{x_of(i):.1f}" cy="{axes.y(v):.1f}" r="3.5" fill="{color}">'
                f"<title>{esc(categories[i])} | {esc(s.name)}: {esc(tip(v))}</title></circle>"
            )
        parts.extend(
            f'<polyline points="{" ".join(run)}" fill="none" stroke="{color}" stroke-width="2.2" '
            'stroke-linejoin="round"/>'
            for run in runs
            if len(run) > 1
        )
    return axes.finish(parts, categories, x_of, label)


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def bar_list(
    labels: Sequence[str],
    values: Sequence[float],
    *,
    label: str,
    fmt: Formatter = money,
    width: int = 540,
    color: str = PALETTE[0],
    max_label_chars: int = 28,
) -> str:
    """Horizontal bars, one per label, longest first as given; long labels are cut, the full text is the tooltip."""
    row_h, top = 26, 4
    shown = [_shorten(str(x), max_label_chars) for x in labels]
    label_w = max((text_width(x) for x in shown), default=24.0) + 14
    value_w = 86
    height = top * 2 + row_h * max(1, len(labels))
    top_value = max((max(0.0, float(v)) for v in values), default=0.0) or 1.0
    span = width - label_w - value_w
    parts = []
    for i, (name, raw) in enumerate(zip(labels, values, strict=True)):
        v = float(raw)
        y = top + i * row_h
        text = str(name)
        short = _shorten(text, max_label_chars)
        bar = max(0.0, v) / top_value * span
        parts.append(
            f"<g><title>{esc(text)}: {esc(fmt(v))}</title>"
            f'<text x="{label_w - 8:.1f}" y="{y + 17}" text-anchor="end" fill="{TEXT_COLOR}">{esc(short)}</text>'
            f'<rect x="{label_w:.1f}" y="{y + 5}" width="{max(1.0, bar):.1f}" height="{row_h - 10}" rx="3" '
            f'fill="{color}"/>'
            f'<text x="{label_w + bar + 6:.1f}" y="{y + 17}" fill="{TEXT_COLOR}">{esc(fmt(v))}</text></g>'
        )
    return _svg(width, height, "".join(parts), label)


def share_bars(
    labels: Sequence[str],
    parts_by_label: Sequence[Sequence[tuple[str, float]]],
    *,
    label: str,
    width: int = 540,
) -> str:
    """100% horizontal bars: per label, named parts drawn as shares of their sum (e.g. tagged vs untagged)."""
    row_h, top = 30, 4
    label_w = max((text_width(str(x)) for x in labels), default=24.0) + 14
    span = width - label_w - 8
    height = top * 2 + row_h * max(1, len(labels))
    out = []
    for i, (name, parts) in enumerate(zip(labels, parts_by_label, strict=True)):
        y = top + i * row_h
        total = sum(max(0.0, v) for _, v in parts) or 1.0
        out.append(f'<text x="{label_w - 8:.1f}" y="{y + 19}" text-anchor="end" fill="{TEXT_COLOR}">{esc(name)}</text>')
        x = label_w
        for j, (part, v) in enumerate(parts):
            w = max(0.0, v) / total * span
            if w <= 0:
                continue
            share = max(0.0, v) / total
            out.append(
                f'<rect x="{x:.1f}" y="{y + 5}" width="{w:.1f}" height="{row_h - 10}" fill="{color_of(j)}">'
                f"<title>{esc(name)} | {esc(part)}: {esc(percent(share))}</title></rect>"
            )
            if w > 44:
                out.append(
                    f'<text x="{x + w / 2:.1f}" y="{y + 19}" text-anchor="middle" fill="#fff">'
                    f"{esc(percent(share, 0))}</text>"
                )
            x += w
    return _svg(width, height, "".join(out), label)
