"""Grafana's dark theme: the colours every part of a snapshot is drawn in."""

from __future__ import annotations

BACKGROUND = "#111217"
PANEL = "#181B1F"
BORDER = "#2C3235"
TEXT = "#CCCCDC"
WEAK_TEXT = "#8E8E8E"
GRID = "#2C3235"
ANNOTATION = "#B877D9"
# Grafana's named colours (dark theme) and its classic palette.
NAMED_COLOURS = {
    "green": "#73BF69",
    "dark-green": "#37872D",
    "red": "#F2495C",
    "dark-red": "#C4162A",
    "blue": "#5794F2",
    "dark-blue": "#1F60C4",
    "yellow": "#FADE2A",
    "dark-yellow": "#E0B400",
    "purple": "#B877D9",
    "dark-purple": "#8F3BB8",
    "orange": "#FF9830",
    "dark-orange": "#FA6400",
    "text": TEXT,
    "transparent": "#00000000",
}
PALETTE = (
    "#7EB26D", "#EAB839", "#6ED0E0", "#EF843C", "#E24D42", "#1F78C1", "#BA43A9", "#705DA0",
    "#508642", "#CCA300", "#447EBC", "#C15C17", "#890F02", "#0A437C", "#6D1F62", "#584477",
)  # fmt: skip
# The logs panel's level bar, as Grafana colours log levels.
LEVEL_COLOURS = {
    "emergency": "#B877D9",
    "alert": "#B877D9",
    "critical": "#B877D9",
    "error": "#F2495C",
    "warning": "#FADE2A",
    "notice": "#73BF69",
    "info": "#73BF69",
    "debug": "#5794F2",
}


def colour(name: str | None, default: str = WEAK_TEXT) -> str:
    """A dashboard's colour (a Grafana name, `#hex` or `rgb(...)`) as matplotlib takes it."""
    if not name:
        return default
    return NAMED_COLOURS.get(name, name if name.startswith(("#", "rgb")) else default)
