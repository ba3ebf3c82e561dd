"""Aggregates over event-time windows, in bounded memory: pure functions over panes.

A window of length W is kept as at most PANES panes of W / PANES each,
aligned on multiples of the pane width since the epoch (so the panes do not
depend on when points arrive). At time t the window is the pane holding t and
the PANES - 1 before it: it reaches back between 0.9 W and W. Each pane keeps
only what its aggregate needs:

    sum   (sum,)                       the sum of the values in the window (0 when empty)
    mean  (count, sum)                 their mean
    max   (max,)                       the largest
    min   (min,)                       the smallest
    rate  (first t, first v, last t, last v)
                                       growth per second from the window's first point
                                       to its last: (last v - first v) / seconds between

so a window costs at most 10 small tuples, whatever the point rate. Times
inside a pane are kept as nanoseconds since the pane's start, exact as floats.
A point older than the window's newest pane is added to its own pane (late
points within the window still count); one older than the whole window is
dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from alerts.model import Aggregate

PANES = 10


@dataclass(frozen=True, slots=True)
class Pane:
    index: int  # the pane covers [index * width, (index + 1) * width)
    values: tuple[float, ...]


Window = tuple[Pane, ...]


def pane_width(window_ns: int) -> int:
    return max(1, window_ns // PANES)


def add(aggregate: Aggregate, window_ns: int, panes: Window, time: int, value: float) -> Window:
    """The window once the point (`time` ns, `value`) is in it."""
    width = pane_width(window_ns)
    index = time // width
    newest = max([index, *(p.index for p in panes)])
    if index <= newest - PANES:
        return panes  # older than the whole window
    offset = float(time - index * width)
    kept = [p for p in panes if p.index > newest - PANES]
    for position, pane in enumerate(kept):
        if pane.index == index:
            kept[position] = Pane(index, _merge(aggregate, pane.values, offset, value))
            break
    else:
        kept.append(Pane(index, _first(aggregate, offset, value)))
        kept.sort(key=lambda p: p.index)
    return tuple(kept)


def _first(aggregate: Aggregate, offset: float, value: float) -> tuple[float, ...]:
    if aggregate == "mean":
        return (1.0, value)
    if aggregate == "rate":
        return (offset, value, offset, value)
    return (value,)


def _merge(
    aggregate: Aggregate, values: tuple[float, ...], offset: float, value: float
) -> tuple[float, ...]:
    if aggregate == "sum":
        return (values[0] + value,)
    if aggregate == "mean":
        return (values[0] + 1.0, values[1] + value)
    if aggregate == "max":
        return (max(values[0], value),)
    if aggregate == "min":
        return (min(values[0], value),)
    first_t, first_v, last_t, last_v = values
    if offset < first_t:
        first_t, first_v = offset, value
    if offset >= last_t:
        last_t, last_v = offset, value
    return (first_t, first_v, last_t, last_v)


def live(window_ns: int, panes: Window, time: int) -> Window:
    """The panes still inside the window at `time`."""
    oldest = time // pane_width(window_ns) - PANES
    return tuple(p for p in panes if p.index > oldest)


def value(aggregate: Aggregate, window_ns: int, panes: Window, time: int) -> float | None:
    """The aggregate at `time`; None where it is undefined (an empty window,
    except for a sum, which is 0; a rate over less than two distinct times)."""
    width = pane_width(window_ns)
    inside = live(window_ns, panes, time)
    if aggregate == "sum":
        return float(sum(p.values[0] for p in inside))
    if not inside:
        return None
    if aggregate == "mean":
        return sum(p.values[1] for p in inside) / sum(p.values[0] for p in inside)
    if aggregate == "max":
        return max(p.values[0] for p in inside)
    if aggregate == "min":
        return min(p.values[0] for p in inside)
    first, last = inside[0], inside[-1]
    # Whole panes apart, plus the offsets within them: exact, unlike absolute times as floats.
    elapsed = (last.index - first.index) * width + (last.values[2] - first.values[0])
    if elapsed <= 0:
        return None
    return (last.values[3] - first.values[1]) / (elapsed / 1e9)


def to_json(panes: Window) -> list[list[Any]]:
    return [[p.index, *p.values] for p in panes]


def from_json(raw: Sequence[Sequence[Any]] | None) -> Window:
    if not raw:
        return ()
    return tuple(Pane(int(item[0]), tuple(float(v) for v in item[1:])) for item in raw)
