"""Aggregates over event-time windows: exact over their panes, and bounded."""

from __future__ import annotations

import random

import pytest

from alerts import windows
from alerts.rules import Aggregate

S = 1_000_000_000
T0 = 1_767_225_600 * S
MINUTE = 60 * S  # panes of 6 s


def _window(aggregate: Aggregate, points: list[tuple[float, float]]) -> windows.Window:
    panes: windows.Window = ()
    for seconds, value in points:
        panes = windows.add(aggregate, MINUTE, panes, T0 + int(seconds * S), value)
    return panes


def _value(aggregate: Aggregate, points: list[tuple[float, float]], at: float) -> float | None:
    return windows.value(aggregate, MINUTE, _window(aggregate, points), T0 + int(at * S))


POINTS = [(0.0, 4.0), (7.0, 1.0), (30.0, 9.0), (31.0, 2.0), (59.0, 5.0)]


@pytest.mark.parametrize(
    ("aggregate", "expected"),
    [("sum", 21.0), ("mean", 4.2), ("max", 9.0), ("min", 1.0), ("rate", (5.0 - 4.0) / 59)],
)
def test_every_aggregate_over_a_whole_window(aggregate: Aggregate, expected: float) -> None:
    assert _value(aggregate, POINTS, 59) == pytest.approx(expected, rel=1e-12)


def test_the_window_reaches_back_to_the_pane_boundary_nine_panes_before() -> None:
    # At 61 s the window is the panes from 6 s on: the point at 0 s has left it.
    assert _value("sum", POINTS, 61) == 17.0
    assert _value("min", POINTS, 61) == 1.0
    assert _value("rate", POINTS, 61) == pytest.approx((5.0 - 1.0) / 52)
    # At 66 s the pane of 6..12 s has left as well.
    assert _value("sum", POINTS, 66) == 16.0
    assert _value("max", [(0.0, 1.0)], 200) is None
    assert _value("sum", [(0.0, 1.0)], 200) == 0.0


def test_a_rate_needs_two_distinct_times() -> None:
    assert _value("rate", [(10.0, 5.0)], 10) is None
    assert _value("rate", [(10.0, 5.0), (10.0, 7.0)], 10) is None
    assert _value("rate", [(10.0, 5.0), (12.5, 10.0)], 13) == 2.0


def test_memory_stays_bounded_whatever_the_point_rate() -> None:
    rng = random.Random(7)
    panes: windows.Window = ()
    for n in range(20_000):
        panes = windows.add("mean", MINUTE, panes, T0 + n * 10_000_000, rng.random())
        assert len(panes) <= windows.PANES
    assert windows.from_json(windows.to_json(panes)) == panes


def test_a_point_older_than_the_window_is_dropped() -> None:
    panes = _window("sum", [(100.0, 1.0)])
    assert windows.add("sum", MINUTE, panes, T0, 5.0) == panes
    later = windows.add("sum", MINUTE, panes, T0 + 50 * S, 5.0)
    assert windows.value("sum", MINUTE, later, T0 + 100 * S) == 6.0


def test_panes_do_not_depend_on_when_points_arrive() -> None:
    points = [(float(n) * 1.7, float(n % 5)) for n in range(60)]
    shuffled = list(points)
    random.Random(3).shuffle(shuffled)
    ordered = sorted(shuffled)
    assert _window("mean", ordered) == _window("mean", points)
