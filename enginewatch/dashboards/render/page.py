"""The whole dashboard on one figure: the header, each panel's frame and title,
and the panel kind that draws its inside."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg

from enginewatch.dashboards.interpolation import VariableValue
from enginewatch.dashboards.render import (
    heatmap,
    logs,
    stat,
    state_timeline,
    table,
    timeseries,
)
from enginewatch.dashboards.render.data import PanelResult, SnapshotData
from enginewatch.dashboards.render.layout import (
    GAP_PX,
    HEADER_PX,
    Box,
    Canvas,
    blank,
    clip,
    hide_border,
)
from enginewatch.dashboards.render.theme import BACKGROUND, TEXT, WEAK_TEXT, colour

# Draws a panel's inside; False when there is nothing to draw ("No data").
Drawer = Callable[[Canvas, SnapshotData, PanelResult, Box], bool]

DRAWERS: Mapping[str, Drawer] = {
    "timeseries": timeseries.draw,
    "stat": stat.draw,
    "table": table.draw,
    "logs": logs.draw,
    "state-timeline": state_timeline.draw,
    "heatmap": heatmap.draw,
}


def render(data: SnapshotData, path: Path) -> Path:
    """Draw the dashboard and write it as a PNG at `path`."""
    canvas = Canvas(data.dashboard)
    _header(canvas, data)
    for result in data.panels:
        _panel(canvas, data, result)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Attaching the Agg canvas is what lets the figure save without pyplot.
    FigureCanvasAgg(canvas.figure)
    canvas.figure.savefig(path, format="png", facecolor=BACKGROUND)
    return path


def _header(canvas: Canvas, data: SnapshotData) -> None:
    """The title, and what Grafana's toolbar would show: time range and variables."""
    ax = canvas.axes(0, 0, canvas.width, HEADER_PX)
    blank(ax, canvas.width, HEADER_PX, BACKGROUND)
    hide_border(ax)
    ax.text(GAP_PX, HEADER_PX - 20, data.dashboard.title, color=TEXT, fontsize=14, va="center")
    start = datetime.fromtimestamp(data.time_range.from_ms / 1000, UTC)
    end = datetime.fromtimestamp(data.time_range.to_ms / 1000, UTC)
    detail = f"{start:%Y-%m-%d %H:%M:%S} to {end:%Y-%m-%d %H:%M:%S} UTC"
    chosen = [f"{name}: {_selection(value)}" for name, value in data.variables.items()]
    if chosen:
        detail += "    " + "    ".join(chosen)
    ax.text(GAP_PX, 14, detail, color=WEAK_TEXT, fontsize=9, va="center")


def _selection(value: VariableValue) -> str:
    if value.is_all:
        return "All"
    return value.selected if isinstance(value.selected, str) else " + ".join(value.selected)


def panel_title(title: str, variables: Mapping[str, VariableValue]) -> str:
    """The title with its variables' selections, as Grafana shows it (`Quantiles of $field`)."""
    for name in sorted(variables, key=len, reverse=True):  # $field before $f
        shown = _selection(variables[name])
        title = title.replace("${" + name + "}", shown).replace("$" + name, shown)
    return title


def _panel(canvas: Canvas, data: SnapshotData, result: PanelResult) -> None:
    panel = result.panel
    left, top, width, height = canvas.box(panel)
    chrome = canvas.axes(left, top, width, height)
    blank(chrome, width, height)
    if panel.type == "row":
        chrome.text(8, height / 2, panel.title, color=TEXT, fontsize=11, va="center")
        return
    title = panel_title(panel.title, data.variables)
    chrome.text(8, height - 14, clip(title, width - 16, 9.5), color=TEXT, fontsize=9.5,
                va="center", fontweight="bold")  # fmt: skip
    # Under the title, 8 pixels in from the frame.
    inner = (left + 8, top + 28, width - 16, height - 36)
    if result.error:
        _message(chrome, width, height, "⚠ " + result.error, colour("red"))
        return
    drawer = DRAWERS.get(panel.type)
    if drawer is None:
        _message(chrome, width, height, f"panel type {panel.type!r} is not drawn", WEAK_TEXT)
    elif not drawer(canvas, data, result, inner):
        _message(chrome, width, height, "No data", WEAK_TEXT)


def _message(ax: Axes, width: float, height: float, text: str, tint: str) -> None:
    """Text centred in the panel, wrapped by words (at most 6 lines)."""
    words, lines, line = text.split(), [], ""
    # About 7 pixels per character at 9 points.
    limit = max(int((width - 24) / 7), 10)
    for word in words:
        if len(line) + len(word) + 1 > limit and line:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    lines.append(line)
    ax.text(width / 2, (height - 28) / 2, "\n".join(lines[:6]), color=tint, fontsize=9,
            ha="center", va="center", wrap=True)  # fmt: skip
