"""The reuse chart: per module, horizontal bars of construction avoided and recovered (SVG).

Drawn server-side like :mod:`marketplace.web.charts` (no JavaScript, labels escaped,
colours from its palette); horizontal so long module names stay readable.
"""
from __future__ import annotations

from typing import Sequence

from markupsafe import Markup, escape

from marketplace.money import format_display
from marketplace.web.charts import FONT, PALETTE, nice_ceiling

WIDTH, LABEL, RIGHT, TOP, ROW, BAR = 720, 220, 110, 10, 46, 16


def reuse_chart(rows: Sequence[tuple[str, int, int]], currency: str, title: str,
                names: tuple[str, str]) -> Markup:
    """Bars per (module, avoided minor, recovered minor); ``names`` label the two series."""
    top = nice_ceiling(max((max(a, r) for _, a, r in rows), default=0))
    height = TOP * 2 + ROW * max(len(rows), 1)
    plot = WIDTH - LABEL - RIGHT
    parts = [f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" '
             f'role="img" aria-label="{escape(title)}" preserveAspectRatio="xMidYMid meet">',
             f"<title>{escape(title)}</title>"]
    for i, (module, avoided, recovered) in enumerate(rows):
        y = TOP + ROW * i
        parts.append(f'<text x="{LABEL - 8}" y="{y + BAR + 4}" text-anchor="end" font-size="{FONT}" '
                     f'fill="#1f2933">{escape(module)}</text>')
        for j, (name, value) in enumerate(zip(names, (avoided, recovered))):
            width = plot * value / top
            amount = format_display(value, currency)
            parts.append(f'<rect class="bar" x="{LABEL}" y="{y + j * (BAR + 2)}" width="{width:.1f}" '
                         f'height="{BAR}" fill="{PALETTE[j]}"><title>{escape(module)} · '
                         f'{escape(name)}: {escape(amount)}</title></rect>')
            parts.append(f'<text x="{LABEL + width + 4:.1f}" y="{y + j * (BAR + 2) + BAR - 3}" '
                         f'font-size="{FONT - 3}" fill="#52606d">{escape(amount)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
