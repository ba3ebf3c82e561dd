"""Legends under a plot: colour swatches and labels in columns, in pixel space."""

from __future__ import annotations

import math
from collections.abc import Sequence

from matplotlib.axes import Axes
from matplotlib.patches import Rectangle

from enginewatch.dashboards.render.layout import clip
from enginewatch.dashboards.render.theme import TEXT, WEAK_TEXT

LEGEND_CELL_PX = 330
# State names are short: more of them fit on the state timeline's one row.
STATE_LEGEND_CELL_PX = 110
LINE_PX = 13


def legend(
    ax: Axes,
    entries: Sequence[tuple[str, str]],
    width: float,
    rows: int,
    cell_px: float = LEGEND_CELL_PX,
) -> None:
    """Legend entries (label, colour) in columns under the plot, in pixel space."""
    columns = max(int(width // cell_px), 1)
    shown = entries[: columns * rows]
    cell = width / columns
    for index, (label, tint) in enumerate(shown):
        x, y = (index % columns) * cell, rows * LINE_PX - (index // columns) * LINE_PX - 7
        ax.add_patch(Rectangle((x, y - 2), 10, 4, color=tint))
        ax.text(x + 14, y, clip(label, cell - 20, 7, middle=True), color=TEXT, fontsize=7,
                va="center")  # fmt: skip
    if len(entries) > len(shown):
        ax.text(width, 0, f"+{len(entries) - len(shown)} more", color=WEAK_TEXT, fontsize=7,
                ha="right", va="bottom")  # fmt: skip


def legend_rows(count: int, width: float, limit: int = 3) -> int:
    """Rows the legend of `count` entries takes, at most `limit`: the rest are counted."""
    return min(math.ceil(count / max(int(width // LEGEND_CELL_PX), 1)), limit) if count else 0
