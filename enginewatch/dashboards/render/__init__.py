"""A dashboard's data drawn as one PNG with matplotlib, laid out on Grafana's grid.

Panels sit where their gridPos puts them (24 columns, rows of 30 pixels, 8
pixel gaps) in Grafana's dark theme: time series as lines or stacked bars,
stats as one big value, tables and logs as text, state timelines as coloured
bands with the value mappings' names and colours, heatmaps of time series
buckets as cells coloured by count. Annotations are vertical
lines on the time axes. Only the Agg canvas is used: no display, no pyplot
state shared between renders.

The modules: `page` (the figure: header, panel frames, which kind draws what),
one per panel kind (`timeseries`, `stat`, `table`, `logs`, `state_timeline`,
`heatmap`),
`layout` (the grid in pixels), `formatting` and `fields` (values as Grafana
shows them), `theme`, `time_axis` and `legend` (shared by the time panels).
"""

from __future__ import annotations

from enginewatch.dashboards.render.data import AnnotationEvent, PanelResult, SnapshotData
from enginewatch.dashboards.render.fields import field_config
from enginewatch.dashboards.render.formatting import format_value, mapped, threshold_colour
from enginewatch.dashboards.render.layout import (
    COLUMNS,
    DPI,
    GAP_PX,
    HEADER_PX,
    ROW_PX,
    WIDTH_PX,
    Canvas,
)
from enginewatch.dashboards.render.page import render
from enginewatch.dashboards.render.theme import colour

__all__ = [
    "COLUMNS",
    "DPI",
    "GAP_PX",
    "HEADER_PX",
    "ROW_PX",
    "WIDTH_PX",
    "AnnotationEvent",
    "Canvas",
    "PanelResult",
    "SnapshotData",
    "colour",
    "field_config",
    "format_value",
    "mapped",
    "render",
    "threshold_colour",
]
