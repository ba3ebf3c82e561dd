"""A dashboard's data drawn as one PNG with matplotlib, laid out on Grafana's grid.

Panels sit where their gridPos puts them (24 columns, rows of 30 pixels, 8
pixel gaps) in Grafana's dark theme: time series as lines or stacked bars,
stats as one big value, tables and logs as text, state timelines as coloured
bands with the value mappings' names and colours. Annotations are vertical
lines on the time axes. Only the Agg canvas is used: no display, no pyplot
state shared between renders.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import matplotlib.dates as mdates
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import FuncFormatter, MaxNLocator

from enginewatch.dashboards.dashboards import Dashboard, Panel
from enginewatch.dashboards.interpolation import TimeRange, VariableValue
from enginewatch.dashboards.panel_data import Table, TimeSeries, last_value

WIDTH_PX = 1600
ROW_PX = 30
GAP_PX = 8
HEADER_PX = 56
COLUMNS = 24
DPI = 100

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
MS_PER_DAY = 86_400_000


@dataclass(frozen=True, slots=True)
class PanelResult:
    """What a panel's queries returned, or why they failed."""

    panel: Panel
    series: Sequence[TimeSeries] = ()
    tables: Sequence[Table] = ()
    interval_ms: int = 1000
    error: str | None = None


@dataclass(frozen=True, slots=True)
class AnnotationEvent:
    time_ms: int
    text: str
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SnapshotData:
    dashboard: Dashboard
    time_range: TimeRange
    variables: Mapping[str, VariableValue]
    panels: Sequence[PanelResult]
    annotations: Sequence[AnnotationEvent] = field(default_factory=tuple)


def colour(name: str | None, default: str = WEAK_TEXT) -> str:
    if not name:
        return default
    return NAMED_COLOURS.get(name, name if name.startswith(("#", "rgb")) else default)


# --- values, units, mappings -------------------------------------------------


def _plain(value: float) -> str:
    if value == 0:
        return "0"
    size = abs(value)
    text = f"{value:.0f}" if size >= 100 else f"{value:.1f}" if size >= 10 else f"{value:.2f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _scaled(value: float, step: float, suffixes: Sequence[str]) -> str:
    index = 0
    while abs(value) >= step and index < len(suffixes) - 1:
        value /= step
        index += 1
    return f"{_plain(value)}{suffixes[index]}"


def format_value(value: Any, unit: str | None) -> str:
    """A value as Grafana's unit formats show it (the units these dashboards use)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if unit == "dateTimeAsIso":
        return datetime.fromtimestamp(float(value) / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")
    number = float(value)
    if not math.isfinite(number):
        return str(number)
    if unit == "percent":
        return f"{_plain(number)}%"
    if unit == "bytes":
        return _scaled(number, 1024, (" B", " KiB", " MiB", " GiB", " TiB"))
    if unit == "Bps":
        return _scaled(number, 1000, (" B/s", " kB/s", " MB/s", " GB/s", " TB/s"))
    if unit == "recps":
        return _scaled(number, 1000, (" rec/s", "K rec/s", "M rec/s", "B rec/s"))
    return _scaled(number, 1000, ("", " K", " Mil", " Bil", " Tri"))


def _mapping_key(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def mapped(value: Any, mappings: Sequence[Mapping[str, Any]]) -> tuple[str, str] | None:
    """(text, colour) of the value mapping that matches the value, if one does."""
    if value is None:
        return None
    key = _mapping_key(value)
    for mapping in mappings:
        if mapping.get("type") == "value":
            option = (mapping.get("options") or {}).get(key)
            if option:
                return str(option.get("text", key)), colour(option.get("color"), TEXT)
    return None


def threshold_colour(value: Any, panel: Panel) -> str:
    steps = _defaults(panel).get("thresholds", {}).get("steps", [])
    chosen = TEXT
    for step in steps:
        limit = step.get("value")
        if limit is None or (isinstance(value, int | float) and value >= limit):
            chosen = colour(step.get("color"), TEXT)
    return chosen


def _defaults(panel: Panel) -> Mapping[str, Any]:
    defaults: Mapping[str, Any] = (panel.raw.get("fieldConfig") or {}).get("defaults") or {}
    return defaults


def field_config(panel: Panel, column: str) -> dict[str, Any]:
    """The panel's field defaults with the overrides that match the column by name."""
    config = dict(_defaults(panel))
    for override in (panel.raw.get("fieldConfig") or {}).get("overrides", []):
        matcher = override.get("matcher") or {}
        if matcher.get("id") == "byName" and matcher.get("options") == column:
            for prop in override.get("properties", []):
                config[prop["id"]] = prop.get("value")
    return config


# --- layout ------------------------------------------------------------------


class Canvas:
    """Pixel geometry of the dashboard on one figure."""

    def __init__(self, dashboard: Dashboard) -> None:
        rows = max((p.grid.y + p.grid.h for p in dashboard.panels), default=1)
        self.width = WIDTH_PX
        self.height = HEADER_PX + GAP_PX + rows * (ROW_PX + GAP_PX)
        self.column = (WIDTH_PX - GAP_PX * (COLUMNS + 1)) / COLUMNS
        self.figure = Figure(figsize=(self.width / DPI, self.height / DPI), dpi=DPI)
        self.figure.patch.set_facecolor(BACKGROUND)

    def box(self, panel: Panel) -> tuple[float, float, float, float]:
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


def _blank(ax: Axes, width: float, height: float, face: str = PANEL) -> None:
    """An axes used as a pixel canvas: no ticks, 0..width by 0..height (y up)."""
    ax.set_facecolor(face)
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_color(BORDER)


def _clip(text: str, pixels: float, size: float, middle: bool = False) -> str:
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


# --- entry point -------------------------------------------------------------


def render(data: SnapshotData, path: Path) -> Path:
    """Draw the dashboard and write it as a PNG at `path`."""
    canvas = Canvas(data.dashboard)
    _header(canvas, data)
    for result in data.panels:
        _panel(canvas, data, result)
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(canvas.figure)
    canvas.figure.savefig(path, format="png", facecolor=BACKGROUND)
    return path


def _header(canvas: Canvas, data: SnapshotData) -> None:
    ax = canvas.axes(0, 0, canvas.width, HEADER_PX)
    _blank(ax, canvas.width, HEADER_PX, BACKGROUND)
    for spine in ax.spines.values():
        spine.set_visible(False)
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


def _panel(canvas: Canvas, data: SnapshotData, result: PanelResult) -> None:
    panel = result.panel
    left, top, width, height = canvas.box(panel)
    chrome = canvas.axes(left, top, width, height)
    _blank(chrome, width, height)
    if panel.type == "row":
        chrome.text(8, height / 2, panel.title, color=TEXT, fontsize=11, va="center")
        return
    chrome.text(8, height - 14, _clip(panel.title, width - 16, 9.5), color=TEXT, fontsize=9.5,
                va="center", fontweight="bold")  # fmt: skip
    inner = (left + 8, top + 28, width - 16, height - 36)
    if result.error:
        _message(chrome, width, height, "⚠ " + result.error, colour("red"))
        return
    draw: dict[str, Callable[[Canvas, SnapshotData, PanelResult, tuple[float, ...]], bool]] = {
        "timeseries": _timeseries,
        "stat": _stat,
        "table": _table,
        "logs": _logs,
        "state-timeline": _state_timeline,
    }
    drawer = draw.get(panel.type)
    if drawer is None:
        _message(chrome, width, height, f"panel type {panel.type!r} is not drawn", WEAK_TEXT)
    elif not drawer(canvas, data, result, inner):
        _message(chrome, width, height, "No data", WEAK_TEXT)


def _message(ax: Axes, width: float, height: float, text: str, tint: str) -> None:
    words, lines, line = text.split(), [], ""
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


# --- time axes ---------------------------------------------------------------


def _day(ms: float) -> float:
    return ms / MS_PER_DAY  # matplotlib's date numbers count days since 1970


def _time_axis(ax: Axes, data: SnapshotData, width: float) -> None:
    ax.set_xlim(_day(data.time_range.from_ms), _day(data.time_range.to_ms))
    locator = mdates.AutoDateLocator(minticks=2, maxticks=max(int(width / 90), 2), tz=UTC)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    span = data.time_range.to_ms - data.time_range.from_ms
    pattern = (
        "%H:%M:%S" if span <= 6 * 3600_000 else "%H:%M" if span <= MS_PER_DAY else "%m-%d %H:%M"
    )
    ax.xaxis.set_major_formatter(mdates.DateFormatter(pattern, tz=UTC))  # type: ignore[no-untyped-call]
    ax.tick_params(colors=WEAK_TEXT, labelsize=7, length=2)
    for spine in ax.spines.values():
        spine.set_visible(False)


def _annotations(ax: Axes, data: SnapshotData) -> None:
    for event in data.annotations:
        if data.time_range.from_ms <= event.time_ms <= data.time_range.to_ms:
            ax.axvline(_day(event.time_ms), color=ANNOTATION, linewidth=0.8, linestyle="--",
                       alpha=0.8, zorder=1)  # fmt: skip


LEGEND_CELL_PX = 330
STATE_LEGEND_CELL_PX = 110


def _legend(
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
        x, y = (index % columns) * cell, rows * 13 - (index // columns) * 13 - 7
        ax.add_patch(Rectangle((x, y - 2), 10, 4, color=tint))
        ax.text(x + 14, y, _clip(label, cell - 20, 7, middle=True), color=TEXT, fontsize=7,
                va="center")  # fmt: skip
    if len(entries) > len(shown):
        ax.text(width, 0, f"+{len(entries) - len(shown)} more", color=WEAK_TEXT, fontsize=7,
                ha="right", va="bottom")  # fmt: skip


def _legend_rows(count: int, width: float, limit: int = 3) -> int:
    return min(math.ceil(count / max(int(width // LEGEND_CELL_PX), 1)), limit) if count else 0


# --- panel kinds ---------------------------------------------------------------


def _numeric(series: Sequence[TimeSeries]) -> list[TimeSeries]:
    return [
        s
        for s in series
        if any(isinstance(v, int | float) and not isinstance(v, bool) for v in s.values)
    ]


def _timeseries(
    canvas: Canvas, data: SnapshotData, result: PanelResult, box: tuple[float, ...]
) -> bool:
    series = _numeric(result.series)
    if not series:
        return False
    left, top, width, height = box
    rows = _legend_rows(len(series), width)
    legend_px = rows * 13 + 4
    ax = canvas.axes(left + 44, top, width - 48, height - legend_px - 16)
    ax.set_facecolor(PANEL)
    _time_axis(ax, data, width)
    unit = _defaults(result.panel).get("unit")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: format_value(v, unit)))
    ax.yaxis.set_major_locator(MaxNLocator(nbins=max(int(height / 45), 2)))
    ax.grid(True, color=GRID, linewidth=0.5)
    custom = _defaults(result.panel).get("custom") or {}
    bars = custom.get("drawStyle") == "bars"
    entries = []
    bottoms: dict[int, float] = {}
    bar_width = _day(result.interval_ms) * 0.8
    for index, one in enumerate(series):
        tint = PALETTE[index % len(PALETTE)]
        entries.append((one.name, tint))
        points = [
            (t, float(v)) for t, v in zip(one.times, one.values, strict=True)
            if isinstance(v, int | float) and not isinstance(v, bool)
        ]  # fmt: skip
        xs = [_day(t) for t, _ in points]
        ys = [v for _, v in points]
        if bars:
            base = [bottoms.get(t, 0.0) for t, _ in points]
            ax.bar(xs, ys, width=bar_width, bottom=base, color=tint, alpha=0.85, linewidth=0)
            for t, v in points:
                bottoms[t] = bottoms.get(t, 0.0) + v
        else:
            ax.plot(xs, ys, color=tint, linewidth=1.2)
            if len(xs) == 1:
                ax.plot(xs, ys, "o", color=tint, markersize=3)
    ax.set_ylim(bottom=0 if custom.get("axisSoftMin") == 0 and ax.get_ylim()[0] >= 0 else None)
    _annotations(ax, data)
    legend = canvas.axes(left, top + height - legend_px, width, legend_px)
    _blank(legend, width, legend_px)
    for spine in legend.spines.values():
        spine.set_visible(False)
    _legend(legend, entries, width, rows)
    return True


def _stat(canvas: Canvas, data: SnapshotData, result: PanelResult, box: tuple[float, ...]) -> bool:
    left, top, width, height = box
    value = last_value(result.series)
    defaults = _defaults(result.panel)
    if value is None:
        text, tint = str(defaults.get("noValue", "No data")), WEAK_TEXT
        if "noValue" in defaults:
            tint = threshold_colour(0, result.panel)
    else:
        found = mapped(value, defaults.get("mappings") or [])
        if found:
            text, tint = found
        else:
            text, tint = (
                format_value(value, defaults.get("unit")),
                threshold_colour(value, result.panel),
            )
    ax = canvas.axes(left, top, width, height)
    _blank(ax, width, height)
    for spine in ax.spines.values():
        spine.set_visible(False)
    size = max(min(height * 0.45, width / max(len(text), 1) * 1.1) * 72 / DPI, 8)
    ax.text(width / 2, height / 2, text, color=tint, fontsize=size, ha="center", va="center",
            fontweight="bold")  # fmt: skip
    return True


def _state_timeline(
    canvas: Canvas, data: SnapshotData, result: PanelResult, box: tuple[float, ...]
) -> bool:
    series = [s for s in result.series if any(v is not None for v in s.values)]
    if not series:
        return False
    left, top, width, height = box
    mappings = _defaults(result.panel).get("mappings") or []
    seen: dict[str, str] = {}
    labels_px = min(max(len(s.name) for s in series) * 5.2 + 8, width * 0.4)
    ax = canvas.axes(left + labels_px, top, width - labels_px, height - 34)
    ax.set_facecolor(PANEL)
    _time_axis(ax, data, width - labels_px)
    end = _day(data.time_range.to_ms)
    for row, one in enumerate(series):
        y = len(series) - 1 - row
        spans: list[tuple[float, float, str]] = []
        for index, (time, value) in enumerate(zip(one.times, one.values, strict=True)):
            if value is None:
                continue
            start = _day(time)
            stop = _day(one.times[index + 1]) if index + 1 < len(one.times) else end
            found = mapped(value, mappings)
            text, tint = found or (format_value(value, None), threshold_colour(value, result.panel))
            seen.setdefault(text, tint)
            if spans and spans[-1][2] == tint and math.isclose(spans[-1][0] + spans[-1][1], start):
                spans[-1] = (spans[-1][0], stop - spans[-1][0], tint)
            else:
                spans.append((start, stop - start, tint))
        for start, length, tint in spans:
            ax.broken_barh([(start, length)], (y + 0.08, 0.84), color=tint, alpha=0.85)
        label = _clip(one.name, labels_px - 8, 7, middle=True)
        # x in axes fractions (4 pixels left of the bands), y in rows.
        ax.text(-4 / (width - labels_px), y + 0.5, label, color=TEXT, fontsize=7, ha="right",
                va="center", transform=ax.get_yaxis_transform())  # fmt: skip
    ax.set_ylim(0, len(series))
    ax.set_yticks([])
    _annotations(ax, data)
    legend = canvas.axes(left, top + height - 18, width, 18)
    _blank(legend, width, 18)
    for spine in legend.spines.values():
        spine.set_visible(False)
    _legend(legend, list(seen.items()), width, 1, STATE_LEGEND_CELL_PX)
    return True


def _table_rows(result: PanelResult) -> Table | None:
    tables = [t for t in result.tables if t.rows]
    return tables[0] if tables else None


def _table(canvas: Canvas, data: SnapshotData, result: PanelResult, box: tuple[float, ...]) -> bool:
    table = _table_rows(result)
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
    lengths = [
        max([len(header)] + [len(row[i][0]) for row in cells]) for i, header in enumerate(headers)
    ]
    total = sum(min(n, 40) + 2 for n in lengths)
    widths = [width * (min(n, 40) + 2) / total for n in lengths]
    ax = canvas.axes(left, top, width, height)
    _blank(ax, width, height)
    for spine in ax.spines.values():
        spine.set_visible(False)
    line = 18
    y = height - 10
    x = 0.0
    for header, w in zip(headers, widths, strict=True):
        ax.text(x + 4, y, _clip(header, w - 8, 8), color=colour("blue"), fontsize=8, va="center",
                fontweight="bold")  # fmt: skip
        x += w
    fits = max(int((height - 20) // line), 1)
    shown = cells if len(cells) <= fits else cells[: fits - 1]
    for row_cells in shown:
        y -= line
        x = 0.0
        for (text, fill), w, cfg in zip(row_cells, widths, configs, strict=True):
            if fill and ((cfg.get("custom.cellOptions") or {}).get("type") == "color-background"):
                ax.add_patch(
                    Rectangle((x + 1, y - line / 2 + 1), w - 2, line - 2, color=fill, alpha=0.9)
                )
                tint = "#FFFFFF"
            else:
                tint = fill or TEXT
            ax.text(x + 4, y, _clip(text, w - 8, 8), color=tint, fontsize=8, va="center")
            x += w
        ax.axhline(y - line / 2, color=BORDER, linewidth=0.5)
    if len(shown) < len(cells):
        ax.text(4, y - line, f"… {len(cells) - len(shown)} more rows", color=WEAK_TEXT, fontsize=8,
                va="center")  # fmt: skip
    return True


def _cell(value: Any, config: Mapping[str, Any]) -> tuple[str, str | None]:
    found = mapped(value, config.get("mappings") or [])
    if found:
        return found
    return format_value(value, config.get("unit")), None


def _logs(canvas: Canvas, data: SnapshotData, result: PanelResult, box: tuple[float, ...]) -> bool:
    table = _table_rows(result)
    if table is None:
        return False
    left, top, width, height = box
    columns = [str(c) for c in table.columns]
    ax = canvas.axes(left, top, width, height)
    _blank(ax, width, height)
    for spine in ax.spines.values():
        spine.set_visible(False)
    line = 14
    fits = max(int(height // line), 1)
    rows = sorted(table.rows, key=lambda r: r[0] or 0, reverse=True)
    y = height - line / 2
    for row in rows[:fits]:
        values = dict(zip(columns, row, strict=True))
        stamp = datetime.fromtimestamp(float(values.get("Time") or 0) / 1000, UTC)
        level = str(values.get("level", "") or "")
        engine = str(values.get("engine", "") or "")[:8]
        ax.add_patch(
            Rectangle((0, y - line / 2 + 2), 3, line - 4, color=LEVEL_COLOURS.get(level, WEAK_TEXT))
        )
        prefix = f"{stamp:%H:%M:%S}  {engine}  " + (f"{level}  " if level else "")
        text = " ".join(str(values.get("text", "")).split())
        ax.text(8, y, _clip(prefix + text, width - 12, 7.5), color=TEXT, fontsize=7.5, va="center",
                family="monospace")  # fmt: skip
        y -= line
    return True
