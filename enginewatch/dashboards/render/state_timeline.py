"""State timelines: a row per series, its values as coloured bands, named by the
value mappings; a legend of the states seen."""

from __future__ import annotations

import math

from enginewatch.dashboards.panel_data import TimeSeries
from enginewatch.dashboards.render.data import PanelResult, SnapshotData
from enginewatch.dashboards.render.fields import defaults
from enginewatch.dashboards.render.formatting import format_value, mapped, threshold_colour
from enginewatch.dashboards.render.layout import Box, Canvas, blank, clip, hide_border
from enginewatch.dashboards.render.legend import STATE_LEGEND_CELL_PX, legend
from enginewatch.dashboards.render.theme import PANEL, TEXT
from enginewatch.dashboards.render.time_axis import annotation_lines, day, time_axis

Span = tuple[float, float, str]  # start, length (in days), colour


def _spans(one: TimeSeries, result: PanelResult, end: float, seen: dict[str, str]) -> list[Span]:
    """The series' bands: each value lasts until the next, the last until the range's end.
    Adjacent bands of one colour are merged; `seen` collects the states' names and colours."""
    mappings = defaults(result.panel).get("mappings") or []
    spans: list[Span] = []
    for index, (time, value) in enumerate(zip(one.times, one.values, strict=True)):
        if value is None:
            continue
        start = day(time)
        stop = day(one.times[index + 1]) if index + 1 < len(one.times) else end
        found = mapped(value, mappings)
        text, tint = found or (format_value(value, None), threshold_colour(value, result.panel))
        seen.setdefault(text, tint)
        if spans and spans[-1][2] == tint and math.isclose(spans[-1][0] + spans[-1][1], start):
            spans[-1] = (spans[-1][0], stop - spans[-1][0], tint)
        else:
            spans.append((start, stop - start, tint))
    return spans


def draw(canvas: Canvas, data: SnapshotData, result: PanelResult, box: Box) -> bool:
    series = [s for s in result.series if any(v is not None for v in s.values)]
    if not series:
        return False
    left, top, width, height = box
    seen: dict[str, str] = {}
    labels_px = min(max(len(s.name) for s in series) * 5.2 + 8, width * 0.4)
    ax = canvas.axes(left + labels_px, top, width - labels_px, height - 34)
    ax.set_facecolor(PANEL)
    time_axis(ax, data, width - labels_px)
    end = day(data.time_range.to_ms)
    for row, one in enumerate(series):
        y = len(series) - 1 - row  # the first series on top
        for start, length, tint in _spans(one, result, end, seen):
            ax.broken_barh([(start, length)], (y + 0.08, 0.84), color=tint, alpha=0.85)
        label = clip(one.name, labels_px - 8, 7, middle=True)
        # x in axes fractions (4 pixels left of the bands), y in rows.
        ax.text(-4 / (width - labels_px), y + 0.5, label, color=TEXT, fontsize=7, ha="right",
                va="center", transform=ax.get_yaxis_transform())  # fmt: skip
    ax.set_ylim(0, len(series))
    ax.set_yticks([])
    annotation_lines(ax, data)
    under = canvas.axes(left, top + height - 18, width, 18)
    blank(under, width, 18)
    hide_border(under)
    legend(under, list(seen.items()), width, 1, STATE_LEGEND_CELL_PX)
    return True
