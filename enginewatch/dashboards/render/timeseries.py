"""Time series panels: a line per series, or stacked bars when the panel draws bars;
the area between two series where an override fills one below to the other."""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib.axes import Axes
from matplotlib.ticker import FuncFormatter, MaxNLocator

from enginewatch.dashboards.panel_data import TimeSeries
from enginewatch.dashboards.render.data import PanelResult, SnapshotData
from enginewatch.dashboards.render.fields import defaults, field_config
from enginewatch.dashboards.render.formatting import format_value
from enginewatch.dashboards.render.layout import Box, Canvas, blank, hide_border
from enginewatch.dashboards.render.legend import LINE_PX, legend, legend_rows
from enginewatch.dashboards.render.theme import GRID, PALETTE, PANEL
from enginewatch.dashboards.render.time_axis import annotation_lines, day, time_axis


def _numeric(series: Sequence[TimeSeries]) -> list[TimeSeries]:
    """The series with at least one number: text and booleans are not plotted."""
    return [
        s
        for s in series
        if any(isinstance(v, int | float) and not isinstance(v, bool) for v in s.values)
    ]


def _bands(
    ax: Axes, result: PanelResult, drawn: dict[str, tuple[list[int], list[float], str]]
) -> None:
    """Grafana's `fillBelowTo` overrides: the area between a series and the one it
    names, in the first one's colour (quantile bands: p95 down to p5)."""
    for name, (times, values, tint) in drawn.items():
        other = field_config(result.panel, name).get("custom.fillBelowTo")
        if not other or other not in drawn:
            continue
        below = dict(zip(drawn[other][0], drawn[other][1], strict=True))
        shared = [(t, v, below[t]) for t, v in zip(times, values, strict=True) if t in below]
        if shared:
            xs = [day(t) for t, _, _ in shared]
            ax.fill_between(xs, [v for _, v, _ in shared], [b for _, _, b in shared], color=tint,
                            alpha=0.25, linewidth=0)  # fmt: skip


def draw(canvas: Canvas, data: SnapshotData, result: PanelResult, box: Box) -> bool:
    series = _numeric(result.series)
    if not series:
        return False
    left, top, width, height = box
    rows = legend_rows(len(series), width)
    legend_px = rows * LINE_PX + 4
    # 44 pixels on the left for the y labels.
    ax = canvas.axes(left + 44, top, width - 48, height - legend_px - 16)
    ax.set_facecolor(PANEL)
    time_axis(ax, data, width)
    unit = defaults(result.panel).get("unit")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: format_value(v, unit)))
    ax.yaxis.set_major_locator(MaxNLocator(nbins=max(int(height / 45), 2)))
    ax.grid(True, color=GRID, linewidth=0.5)
    custom = defaults(result.panel).get("custom") or {}
    bars = custom.get("drawStyle") == "bars"
    entries = []
    drawn: dict[str, tuple[list[int], list[float], str]] = {}
    bottoms: dict[int, float] = {}
    bar_width = day(result.interval_ms) * 0.8
    for index, one in enumerate(series):
        tint = PALETTE[index % len(PALETTE)]
        entries.append((one.name, tint))
        points = [
            (t, float(v)) for t, v in zip(one.times, one.values, strict=True)
            if isinstance(v, int | float) and not isinstance(v, bool)
        ]  # fmt: skip
        xs = [day(t) for t, _ in points]
        ys = [v for _, v in points]
        if bars:
            # Grafana stacks bar series: each starts on the ones before it at that time.
            base = [bottoms.get(t, 0.0) for t, _ in points]
            ax.bar(xs, ys, width=bar_width, bottom=base, color=tint, alpha=0.85, linewidth=0)
            for t, v in points:
                bottoms[t] = bottoms.get(t, 0.0) + v
        else:
            drawn[one.name] = ([t for t, _ in points], ys, tint)
            ax.plot(xs, ys, color=tint, linewidth=1.2)
            if len(xs) == 1:
                # A line of one point draws nothing.
                ax.plot(xs, ys, "o", color=tint, markersize=3)
    _bands(ax, result, drawn)
    ax.set_ylim(bottom=0 if custom.get("axisSoftMin") == 0 and ax.get_ylim()[0] >= 0 else None)
    annotation_lines(ax, data)
    under = canvas.axes(left, top + height - legend_px, width, legend_px)
    blank(under, width, legend_px)
    hide_border(under)
    legend(under, entries, width, rows)
    return True
