"""Table panels: headers by display name, rows sorted as the panel sorts them,
cells through their column's value mappings and units."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from matplotlib.patches import Rectangle

from enginewatch.dashboards.render.data import PanelResult, SnapshotData, first_table
from enginewatch.dashboards.render.fields import field_config
from enginewatch.dashboards.render.formatting import format_value, mapped
from enginewatch.dashboards.render.layout import Box, Canvas, blank, clip, hide_border
from enginewatch.dashboards.render.theme import BORDER, TEXT, WEAK_TEXT, colour

LINE_PX = 18
# Wider text does not widen its column further: a long cell is clipped instead.
MAX_COLUMN_CHARS = 40


def _cell(value: Any, config: Mapping[str, Any]) -> tuple[str, str | None]:
    """The cell's text, and its mapping's colour if a mapping matches."""
    found = mapped(value, config.get("mappings") or [])
    if found:
        return found
    return format_value(value, config.get("unit")), None


def draw(canvas: Canvas, data: SnapshotData, result: PanelResult, box: Box) -> bool:
    table = first_table(result)
    if table is None:
        return False
    left, top, width, height = box
    panel = result.panel
    configs = [field_config(panel, str(c)) for c in table.columns]
    headers = [
        str(cfg.get("displayName") or c) for cfg, c in zip(configs, table.columns, strict=True)
    ]
    rows = [list(r) for r in table.rows]
    for sort in panel.raw.get("options", {}).get("sortBy") or []:
        if sort.get("displayName") in headers:
            at = headers.index(sort["displayName"])
            rows.sort(key=lambda r: (r[at] is None, str(r[at])), reverse=bool(sort.get("desc")))
    cells = [[_cell(value, cfg) for value, cfg in zip(row, configs, strict=True)] for row in rows]
    # Columns share the width in proportion to their longest text.
    lengths = [
        max([len(header)] + [len(row[i][0]) for row in cells]) for i, header in enumerate(headers)
    ]
    total = sum(min(n, MAX_COLUMN_CHARS) + 2 for n in lengths)
    widths = [width * (min(n, MAX_COLUMN_CHARS) + 2) / total for n in lengths]
    ax = canvas.axes(left, top, width, height)
    blank(ax, width, height)
    hide_border(ax)
    y = height - 10
    x = 0.0
    for header, w in zip(headers, widths, strict=True):
        ax.text(x + 4, y, clip(header, w - 8, 8), color=colour("blue"), fontsize=8, va="center",
                fontweight="bold")  # fmt: skip
        x += w
    fits = max(int((height - 20) // LINE_PX), 1)
    # When the rows do not fit, the last line says how many are left out.
    shown = cells if len(cells) <= fits else cells[: fits - 1]
    for row_cells in shown:
        y -= LINE_PX
        x = 0.0
        for (text, fill), w, cfg in zip(row_cells, widths, configs, strict=True):
            if fill and ((cfg.get("custom.cellOptions") or {}).get("type") == "color-background"):
                ax.add_patch(
                    Rectangle(
                        (x + 1, y - LINE_PX / 2 + 1), w - 2, LINE_PX - 2, color=fill, alpha=0.9
                    )
                )
                tint = "#FFFFFF"
            else:
                tint = fill or TEXT
            ax.text(x + 4, y, clip(text, w - 8, 8), color=tint, fontsize=8, va="center")
            x += w
        ax.axhline(y - LINE_PX / 2, color=BORDER, linewidth=0.5)
    if len(shown) < len(cells):
        ax.text(4, y - LINE_PX, f"… {len(cells) - len(shown)} more rows", color=WEAK_TEXT,
                fontsize=8, va="center")  # fmt: skip
    return True
