"""Stat panels: the last value, big, coloured by its mapping or thresholds."""

from __future__ import annotations

from enginewatch.dashboards.panel_data import last_value
from enginewatch.dashboards.render.data import PanelResult, SnapshotData
from enginewatch.dashboards.render.fields import defaults
from enginewatch.dashboards.render.formatting import format_value, mapped, threshold_colour
from enginewatch.dashboards.render.layout import DPI, Box, Canvas, blank, hide_border
from enginewatch.dashboards.render.theme import WEAK_TEXT


def _text_and_colour(result: PanelResult) -> tuple[str, str]:
    value = last_value(result.series)
    config = defaults(result.panel)
    if value is None:
        # A configured noValue (such as 0 engines in error) is coloured like the value 0.
        text, tint = str(config.get("noValue", "No data")), WEAK_TEXT
        if "noValue" in config:
            tint = threshold_colour(0, result.panel)
        return text, tint
    found = mapped(value, config.get("mappings") or [])
    if found:
        return found
    return format_value(value, config.get("unit")), threshold_colour(value, result.panel)


def draw(canvas: Canvas, data: SnapshotData, result: PanelResult, box: Box) -> bool:
    left, top, width, height = box
    text, tint = _text_and_colour(result)
    ax = canvas.axes(left, top, width, height)
    blank(ax, width, height)
    hide_border(ax)
    # As large as the panel's height allows, smaller when the text is too wide.
    size = max(min(height * 0.45, width / max(len(text), 1) * 1.1) * 72 / DPI, 8)
    ax.text(width / 2, height / 2, text, color=tint, fontsize=size, ha="center", va="center",
            fontweight="bold")  # fmt: skip
    return True
