"""Heatmaps of time series buckets, as Grafana draws them with `calculate: false`:
each series is a bucket (its name the bucket's label: with `rowsFrame.layout`
`le` a number's upper edge, `+Inf` the last), each of its values one cell
coloured by its count on the panel's colour scheme (none for a count at or
below `filterValues.le`); a scale under the cells.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

from matplotlib import colormaps
from matplotlib.colors import Normalize, PowerNorm, to_hex
from matplotlib.patches import Rectangle

from enginewatch.dashboards.panel_data import TimeSeries
from enginewatch.dashboards.render.data import PanelResult, SnapshotData
from enginewatch.dashboards.render.formatting import format_value
from enginewatch.dashboards.render.layout import Box, Canvas, blank, clip, hide_border
from enginewatch.dashboards.render.theme import PANEL, TEXT, WEAK_TEXT
from enginewatch.dashboards.render.time_axis import annotation_lines, day, time_axis

# Grafana's heatmap schemes are d3's; matplotlib has the same ColorBrewer ones.
SCHEMES = {"Oranges": "Oranges", "Blues": "Blues", "Greens": "Greens", "Reds": "Reds",
           "Purples": "Purples", "Greys": "Greys", "Spectral": "Spectral",
           "RdYlGn": "RdYlGn", "Viridis": "viridis", "Magma": "magma", "Inferno": "inferno",
           "Plasma": "plasma", "Turbo": "turbo", "YlOrRd": "YlOrRd"}  # fmt: skip
SCALE_PX = 18


def bucket_order(names: Sequence[str]) -> list[str]:
    """Buckets bottom to top: numbers by value (`+Inf` last), then the other names
    (categories) in the order they came."""
    numbers = [(edge, n) for n in names if (edge := _edge(n)) is not None]
    others = [n for n in names if _edge(n) is None]
    return [n for _, n in sorted(numbers)] + others


def _edge(name: str) -> float | None:
    try:
        value = float(name)
    except ValueError:
        return None
    return None if math.isnan(value) else value


def cells(series: Sequence[TimeSeries], interval_ms: int) -> list[tuple[int, int, int, float]]:
    """(bucket row, start ms, width ms, count) of every cell with a count.

    A cell lasts until the next time any bucket has a value (the data's own
    step: a monitor's window), the last one as long as the step before it, or
    the query's interval when there is a single time."""
    rows = {name: row for row, name in enumerate(bucket_order([s.name for s in series]))}
    times = sorted(
        {t for s in series for t, v in zip(s.times, s.values, strict=True) if _number(v)}
    )
    steps = [b - a for a, b in itertools.pairwise(times) if b > a]
    step = min(steps) if steps else interval_ms
    out = []
    for one in series:
        for time, value in zip(one.times, one.values, strict=True):
            if _number(value):
                out.append((rows[one.name], int(time), step, float(value)))
    return out


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _colour_map(options: Mapping[str, Any]) -> tuple[Any, bool]:
    """The colour map of the panel's `color` options, and whether it is reversed."""
    colour = options.get("color") or {}
    name = SCHEMES.get(str(colour.get("scheme", "Oranges")), "Oranges")
    return colormaps[name], bool(colour.get("reverse"))


def draw(canvas: Canvas, data: SnapshotData, result: PanelResult, box: Box) -> bool:
    series = [s for s in result.series if any(_number(v) for v in s.values)]
    found = cells(series, result.interval_ms)
    if not found:
        return False
    left, top, width, height = box
    names = bucket_order([s.name for s in series])
    labels_px = min(max(len(n) for n in names) * 5.2 + 10, width * 0.25)
    ax = canvas.axes(left + labels_px, top, width - labels_px, height - SCALE_PX - 18)
    ax.set_facecolor(PANEL)
    time_axis(ax, data, width - labels_px)
    options = result.panel.raw.get("options") or {}
    cmap, reverse = _colour_map(options)
    highest = max(count for *_, count in found)
    colour_options = options.get("color") or {}
    norm: Normalize = (
        PowerNorm(float(colour_options.get("exponent", 0.5)), vmin=0, vmax=highest)
        if colour_options.get("scale") == "exponential"
        else Normalize(vmin=0, vmax=highest)
    )
    gap = float(options.get("cellGap", 1)) / max(height, 1)
    # Grafana leaves out the cells at or below `filterValues.le` (empty buckets).
    hidden = (options.get("filterValues") or {}).get("le")
    for row, start, step, count in found:
        if hidden is not None and count <= float(hidden):
            continue
        shade = norm(count)
        tint = to_hex(cmap(1 - shade if reverse else shade))
        ax.add_patch(Rectangle((day(start), row + gap), day(step), 1 - 2 * gap, color=tint,
                               linewidth=0))  # fmt: skip
    ax.set_ylim(0, len(names))
    ax.set_yticks([])
    # Every row's label when they fit, else about one per 14 pixels.
    every = max(1, math.ceil(len(names) * 14 / max(height - SCALE_PX - 18, 1)))
    for row, name in enumerate(names):
        if row % every == 0:
            label = clip(name, labels_px - 8, 7)
            ax.text(-4 / (width - labels_px), row + 0.5, label, color=TEXT, fontsize=7,
                    ha="right", va="center", transform=ax.get_yaxis_transform())  # fmt: skip
    annotation_lines(ax, data)
    _scale(canvas, (left, top + height - SCALE_PX, width, SCALE_PX), cmap, reverse, highest)
    return True


def _scale(canvas: Canvas, box: Box, cmap: Any, reverse: bool, highest: float) -> None:
    """The colour scale from 0 to the highest count, as Grafana's heatmap legend."""
    left, top, width, height = box
    ax = canvas.axes(left, top, width, height)
    blank(ax, width, height)
    hide_border(ax)
    bar_left, bar_width = 40.0, min(width * 0.4, 240.0)
    ax.text(bar_left - 4, height / 2, "0", color=WEAK_TEXT, fontsize=7, ha="right", va="center")
    steps = 32
    for i in range(steps):
        shade = i / (steps - 1)
        tint = to_hex(cmap(1 - shade if reverse else shade))
        ax.add_patch(Rectangle((bar_left + i * bar_width / steps, 4), bar_width / steps,
                               height - 8, color=tint, linewidth=0))  # fmt: skip
    ax.text(bar_left + bar_width + 4, height / 2, format_value(highest, "short"), color=WEAK_TEXT,
            fontsize=7, ha="left", va="center")  # fmt: skip
