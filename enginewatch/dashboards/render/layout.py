"""Grafana's grid on one matplotlib figure: where each panel goes, in pixels.

Every drawing works in pixels measured top-down, as Grafana lays panels out;
only `Canvas.axes` turns them into matplotlib's bottom-up figure fractions.
"""

from __future__ import annotations

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from enginewatch.dashboards.dashboards import Dashboard, Panel
from enginewatch.dashboards.render.theme import BACKGROUND, BORDER, PANEL

WIDTH_PX = 1600
ROW_PX = 30
GAP_PX = 8
HEADER_PX = 56
COLUMNS = 24
DPI = 100

# Left, top, width, height in pixels (top-down).
Box = tuple[float, float, float, float]


class Canvas:
    """Pixel geometry of the dashboard on one figure."""

    def __init__(self, dashboard: Dashboard) -> None:
        rows = max((p.grid.y + p.grid.h for p in dashboard.panels), default=1)
        self.width = WIDTH_PX
        self.height = HEADER_PX + GAP_PX + rows * (ROW_PX + GAP_PX)
        self.column = (WIDTH_PX - GAP_PX * (COLUMNS + 1)) / COLUMNS
        self.figure = Figure(figsize=(self.width / DPI, self.height / DPI), dpi=DPI)
        self.figure.patch.set_facecolor(BACKGROUND)

    def box(self, panel: Panel) -> Box:
        """Left, top, width, height of the panel in pixels (top-down)."""
        grid = panel.grid
        left = GAP_PX + grid.x * (self.column + GAP_PX)
        top = HEADER_PX + GAP_PX + grid.y * (ROW_PX + GAP_PX)
        width = grid.w * self.column + (grid.w - 1) * GAP_PX
        height = grid.h * ROW_PX + (grid.h - 1) * GAP_PX
        return left, top, width, height

    def axes(self, left: float, top: float, width: float, height: float) -> Axes:
        """Axes at a pixel rectangle (top-down coordinates)."""
        rect = (
            left / self.width,
            1 - (top + height) / self.height,
            max(width, 1) / self.width,
            max(height, 1) / self.height,
        )
        return self.figure.add_axes(rect)


def blank(ax: Axes, width: float, height: float, face: str = PANEL) -> None:
    """An axes used as a pixel canvas: no ticks, 0..width by 0..height (y up)."""
    ax.set_facecolor(face)
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_color(BORDER)


def hide_border(ax: Axes) -> None:
    """No frame: for axes drawn inside a panel, which has its own."""
    for spine in ax.spines.values():
        spine.set_visible(False)


def clip(text: str, pixels: float, size: float, middle: bool = False) -> str:
    """The text cut to fit; series names lose their middle, since engine UUIDs
    that share a prefix differ at the end."""
    # DejaVu Sans averages about 0.6 em per character.
    limit = max(int(pixels / (size * 0.6 * DPI / 72)), 1)
    if len(text) <= limit:
        return text
    if middle and limit > 8:
        head = (limit - 1) // 2
        return text[:head] + "…" + text[len(text) - (limit - 1 - head) :]
    return text[: max(limit - 1, 0)] + "…"
