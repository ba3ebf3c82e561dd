"""The time axis shared by time series and state timelines, with annotations on it."""

from __future__ import annotations

from datetime import UTC

import matplotlib.dates as mdates
from matplotlib.axes import Axes

from enginewatch.dashboards.render.data import SnapshotData
from enginewatch.dashboards.render.theme import ANNOTATION, WEAK_TEXT, colour

MS_PER_DAY = 86_400_000


def day(ms: float) -> float:
    """Epoch milliseconds as matplotlib's date numbers, which count days since 1970."""
    return ms / MS_PER_DAY


def time_axis(ax: Axes, data: SnapshotData, width: float) -> None:
    """The snapshot's time range on the x axis, in UTC, about one label per 90 pixels."""
    ax.set_xlim(day(data.time_range.from_ms), day(data.time_range.to_ms))
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


def annotation_lines(ax: Axes, data: SnapshotData) -> None:
    """The annotation events in the time range as dashed vertical lines in their
    annotation's colour, each with a marker under the axis, as Grafana draws them."""
    for event in data.annotations:
        if data.time_range.from_ms <= event.time_ms <= data.time_range.to_ms:
            tint = colour(event.colour, ANNOTATION)
            x = day(event.time_ms)
            ax.axvline(x, color=tint, linewidth=0.9, linestyle="--", alpha=0.9, zorder=3)
            # x in data, y in axes fractions: the marker sits on the axis whatever the scale.
            ax.plot([x], [0.0], marker="^", markersize=5, color=tint, clip_on=False, zorder=4,
                    transform=ax.get_xaxis_transform())  # fmt: skip
