"""Logs panels: the newest lines first, each with its time, engine and level."""

from __future__ import annotations

from datetime import UTC, datetime

from matplotlib.patches import Rectangle

from enginewatch.dashboards.render.data import PanelResult, SnapshotData, first_table
from enginewatch.dashboards.render.layout import Box, Canvas, blank, clip, hide_border
from enginewatch.dashboards.render.theme import LEVEL_COLOURS, TEXT, WEAK_TEXT

LINE_PX = 14
# Engine ids are UUIDs: their first 8 characters tell engines apart in a log.
ENGINE_CHARS = 8


def draw(canvas: Canvas, data: SnapshotData, result: PanelResult, box: Box) -> bool:
    table = first_table(result)
    if table is None:
        return False
    left, top, width, height = box
    columns = [str(c) for c in table.columns]
    ax = canvas.axes(left, top, width, height)
    blank(ax, width, height)
    hide_border(ax)
    fits = max(int(height // LINE_PX), 1)
    rows = sorted(table.rows, key=lambda r: r[0] or 0, reverse=True)
    y = height - LINE_PX / 2
    for row in rows[:fits]:
        values = dict(zip(columns, row, strict=True))
        stamp = datetime.fromtimestamp(float(values.get("Time") or 0) / 1000, UTC)
        level = str(values.get("level", "") or "")
        engine = str(values.get("engine", "") or "")[:ENGINE_CHARS]
        ax.add_patch(
            Rectangle(
                (0, y - LINE_PX / 2 + 2), 3, LINE_PX - 4, color=LEVEL_COLOURS.get(level, WEAK_TEXT)
            )
        )
        prefix = f"{stamp:%H:%M:%S}  {engine}  " + (f"{level}  " if level else "")
        # A log line on one line: its own newlines and runs of spaces become one space.
        text = " ".join(str(values.get("text", "")).split())
        ax.text(8, y, clip(prefix + text, width - 12, 7.5), color=TEXT, fontsize=7.5,
                va="center", family="monospace")  # fmt: skip
        y -= LINE_PX
    return True
