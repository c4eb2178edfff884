"""Server-side SVG charts (bar and line by day): no JavaScript, no network, labels escaped."""
from __future__ import annotations

from datetime import date
from typing import Mapping, Sequence

from markupsafe import Markup, escape

WIDTH, HEIGHT = 720, 260
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 56, 12, 14, 40
# Text in viewBox units: the page keeps the chart at least 560 px wide (scrolling sideways on a
# phone) and at most 900 px, so axis labels stay between about 11 and 19 px
FONT = 15
MAX_X_LABELS = 8
PALETTE = ("#b91c1c", "#1d4ed8", "#047857", "#b45309", "#7c3aed", "#0e7490", "#be185d", "#4d7c0f")


def nice_ceiling(value: float) -> int:
    """The smallest 1/2/5×10ⁿ at or above ``value`` (axis top), at least 4 (distinct ticks)."""
    if value <= 4:
        return 4
    step = 1
    while True:
        for factor in (1, 2, 4, 5):
            if step * factor >= value:
                return step * factor
        step *= 10


def _short(n: int) -> str:
    """Axis numbers: 12000 → 12k, 3500000 → 3.5M."""
    for size, suffix in ((1_000_000, "M"), (1_000, "k")):
        if n >= size:
            text = f"{n / size:.1f}".rstrip("0").rstrip(".")
            return f"{text}{suffix}"
    return str(n)


def _day_label(day: date | str) -> str:
    """``2026-10-05`` → ``10-05``."""
    text = day.isoformat() if isinstance(day, date) else str(day)
    return text[5:] if len(text) == 10 else text


def _frame(title: str, top: int, days: Sequence, body: list[str], extra: int = 0) -> Markup:
    """Axes, grid, x labels (thinned to fit), legend-less frame around ``body``."""
    plot_w = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    plot_h = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    parts = [f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT + extra}" '
             f'role="img" aria-label="{escape(title)}" preserveAspectRatio="xMidYMid meet">',
             f"<title>{escape(title)}</title>"]
    for i in range(5):
        value = top * i // 4
        y = MARGIN_TOP + plot_h - plot_h * i / 4
        parts.append(f'<line x1="{MARGIN_LEFT}" x2="{WIDTH - MARGIN_RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
                     f'stroke="#d9e2ec" stroke-width="1"/>')
        parts.append(f'<text x="{MARGIN_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" '
                     f'font-size="{FONT}" fill="#52606d">{_short(value)}</text>')
    n = max(len(days), 1)
    every = max(1, -(-n // MAX_X_LABELS))
    for i, day in enumerate(days):
        if i % every:
            continue
        x = MARGIN_LEFT + plot_w * (i + 0.5) / n
        parts.append(f'<text x="{x:.1f}" y="{HEIGHT - MARGIN_BOTTOM + 20}" text-anchor="middle" '
                     f'font-size="{FONT}" fill="#52606d">{escape(_day_label(day))}</text>')
    parts.extend(body)
    parts.append("</svg>")
    return Markup("".join(parts))


def bar_chart(days: Sequence[date | str], values: Sequence[int], title: str,
              unit: str = "") -> Markup:
    """Bars per day; each bar carries a tooltip ``day: value unit``."""
    top = nice_ceiling(max(values, default=0))
    plot_w = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    plot_h = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    n = max(len(days), 1)
    slot = plot_w / n
    body = []
    for i, (day, value) in enumerate(zip(days, values)):
        h = plot_h * value / top
        x = MARGIN_LEFT + slot * i + slot * 0.15
        y = MARGIN_TOP + plot_h - h
        tip = f"{day}: {value:,} {unit}".strip()
        body.append(f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{slot * 0.7:.1f}" '
                    f'height="{h:.1f}" fill="{PALETTE[0]}"><title>{escape(tip)}</title></rect>')
    return _frame(title, top, days, body)


def line_chart(days: Sequence[date | str], series: Mapping[str, Sequence[int]], title: str,
               unit: str = "") -> Markup:
    """One line per named series (e.g. per adopter); the page shows :func:`legend` beside it."""
    top = nice_ceiling(max((v for values in series.values() for v in values), default=0))
    plot_w = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    plot_h = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    n = max(len(days), 1)
    body = []
    for index, (name, values) in enumerate(series.items()):
        colour = PALETTE[index % len(PALETTE)]
        points = " ".join(
            f"{MARGIN_LEFT + plot_w * (i + 0.5) / n:.1f},{MARGIN_TOP + plot_h - plot_h * v / top:.1f}"
            for i, v in enumerate(values))
        total = sum(values)
        body.append(f'<polyline class="series" fill="none" stroke="{colour}" stroke-width="2" '
                    f'points="{points}"><title>{escape(name)}: {total:,} {escape(unit)}</title>'
                    f"</polyline>")
    return _frame(title, top, days, body)


def legend(series: Mapping[str, Sequence[int]], unit: str = "") -> Markup:
    """The names of a line chart's series in HTML (readable at any width), coloured as drawn."""
    items = "".join(f'<li><span class="swatch c{i % len(PALETTE)}" aria-hidden="true"></span>'
                    f"{escape(name)} <span class=\"muted\">{sum(values):,} {escape(unit)}</span></li>"
                    for i, (name, values) in enumerate(series.items()))
    return Markup(f'<ul class="legend">{items}</ul>')


def fill_days(days: Sequence[date], counts: Mapping[date, int]) -> list[int]:
    """Values for every day in ``days`` (missing days are zero)."""
    return [int(counts.get(day, 0)) for day in days]
