"""Server-rendered SVG line charts for the admin: no script, no font, no network."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT = 520, 220
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 16, 40
#: Series beyond this many share the palette's last colour class.
PALETTE = 8


@dataclass(frozen=True)
class Series:
    """One line: its label and a value per day (missing days are 0)."""

    label: str
    values: Mapping[date, Decimal | float]


def _nice_top(value: float) -> float:
    """The smallest of 1, 2, 2.5 or 5 times a power of ten at or above ``value``: the top of
    the scale, so its four steps are round numbers."""
    if value <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if step * power >= value:
            return step * power
    return 10 * power


def line_chart(
    *,
    chart_id: str,
    title: str,
    description: str,
    days: Sequence[date],
    series: Sequence[Series],
    y_label: Callable[[float], str],
    y_max: float | None = None,
    day_label: Callable[[date], str] = lambda day: f"{day:%d %b}",
    gaps: bool = False,
) -> SafeString:
    """An SVG line chart, one line per series, its colours from the page's CSS classes
    ``mp-series-N`` and its text and axes in ``currentColor`` (so it follows the admin's
    light or dark theme). ``title`` and ``description`` are its accessible name and text;
    the page also gives the figures as a table."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    peak = max((float(v) for s in series for v in s.values.values()), default=0.0)
    top = y_max if y_max is not None else _nice_top(peak)
    count = max(len(days) - 1, 1)

    def x(index: int) -> float:
        return LEFT + plot_w * index / count if len(days) > 1 else LEFT + plot_w / 2

    def y(value: float) -> float:
        return TOP + plot_h * (1 - min(value / top, 1.0)) if top else TOP + plot_h

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="mp-chart" viewBox="0 0 {WIDTH} {HEIGHT}"'
        f' role="img" aria-labelledby="{chart_id}-title {chart_id}-desc">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<desc id="{chart_id}-desc">{escape(description)}</desc>',
    ]
    for step in range(5):
        value = top * step / 4
        level = y(value)
        parts.append(
            f'<line class="mp-grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{level:.1f}" '
            f'y2="{level:.1f}"/>'
            f'<text class="mp-axis" x="{LEFT - 6}" y="{level + 4:.1f}" text-anchor="end">'
            f"{escape(y_label(value))}</text>"
        )
    every = max(1, len(days) // 8)
    for index, day in enumerate(days):
        if index % every == 0 or index == len(days) - 1:
            parts.append(
                f'<text class="mp-axis" x="{x(index):.1f}" y="{HEIGHT - BOTTOM + 18}" '
                f'text-anchor="middle">{escape(day_label(day))}</text>'
            )
    for number, line in enumerate(series):
        css = f"mp-series-{min(number, PALETTE - 1)}"
        # A missing day is 0 (nothing paid), or with ``gaps`` no figure at all (no payment
        # started, so no conversion): the line breaks there.
        runs: list[list[str]] = [[]]
        for i, day in enumerate(days):
            if day in line.values or not gaps:
                value = float(line.values.get(day, 0))
                runs[-1].append(f"{x(i):.1f},{y(value):.1f}")
            elif runs[-1]:
                runs.append([])
        for run in runs:
            if len(run) > 1:
                parts.append(
                    f'<polyline class="mp-line {css}" points="{" ".join(run)}">'
                    f"<title>{escape(line.label)}</title></polyline>"
                )
        for i, day in enumerate(days):
            if day in line.values:
                parts.append(
                    f'<circle class="mp-dot {css}" cx="{x(i):.1f}" '
                    f'cy="{y(float(line.values[day])):.1f}" r="3"/>'
                )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every text above is escaped
