"""Stacked bar charts as SVG, drawn on the server: no script, no library, and nothing a
Content-Security-Policy without ``unsafe-inline`` refuses (colours come from classes in
``static/admin/admin.css``, never from ``style`` attributes).

Each bar is one group (a day, a regime, a country) split by share: what visitors chose as a
part of 100%, so groups of different sizes compare at a glance. The page puts the legend and
a table of the same numbers beside each chart; the SVG carries a title and a summary for
screen readers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape

WIDTH = 640
HEIGHT = 240
LEFT = 44  # room for the axis labels
BOTTOM = 40  # room for the group labels
TOP = 10
MAX_BAR = 48


@dataclass(frozen=True, slots=True)
class Series:
    key: str  # a CSS class suffix: "s-<key>"
    label: str


def shares(values: Mapping[str, int], series: Sequence[Series]) -> list[float]:
    """Each series' share of the group's total, in percent (zeros for an empty group)."""
    total = sum(values.get(s.key, 0) for s in series)
    return [100.0 * values.get(s.key, 0) / total if total else 0.0 for s in series]


def stacked_bars(
    chart_id: str,
    title: str,
    summary: str,
    groups: Sequence[str],
    values: Mapping[str, Mapping[str, int]],
    series: Sequence[Series],
) -> str:
    """An SVG of one 100% bar per group, its series stacked bottom to top in order."""
    plot_w, plot_h = WIDTH - LEFT - 8, HEIGHT - TOP - BOTTOM
    step = plot_w / max(1, len(groups))
    bar = min(MAX_BAR, step * 0.7)
    parts = [
        f'<svg class="chart" id="{chart_id}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img"'
        f' aria-labelledby="{chart_id}-t {chart_id}-d" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{chart_id}-t">{escape(title)}</title>',
        f'<desc id="{chart_id}-d">{escape(summary)}</desc>',
    ]
    for percent in (0, 50, 100):
        y = TOP + plot_h * (1 - percent / 100)
        parts.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - 8}" y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="axis" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{percent}%</text>'
        )
    label_every = max(1, round(len(groups) / 12))  # at most about 12 labels under the bars
    for index, group in enumerate(groups):
        x = LEFT + step * index + (step - bar) / 2
        y = TOP + plot_h
        group_values = values.get(group, {})
        for item, share in zip(series, shares(group_values, series), strict=True):
            height = plot_h * share / 100
            if height <= 0:
                continue
            y -= height
            count = group_values.get(item.key, 0)
            parts.append(
                f'<rect class="s-{item.key}" x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}"'
                f' height="{height:.1f}"><title>{escape(group)}: {escape(item.label)}'
                f" {share:.0f}% ({count})</title></rect>"
            )
        if index % label_every == 0:
            parts.append(
                f'<text class="axis" x="{x + bar / 2:.1f}" y="{TOP + plot_h + 16}"'
                f' text-anchor="middle">{escape(short(group))}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def short(group: str) -> str:
    """A day ``2026-11-22`` as ``11-22``; anything else as it is, at most 10 characters."""
    if len(group) == 10 and group[4] == "-" and group[7] == "-":
        return group[5:]
    return group if len(group) <= 10 else group[:9] + "…"
