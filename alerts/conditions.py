"""A rule's condition: `above x`, `below x`, `outside [lo, hi]`, `equals x`,
with an optional `reset` threshold (hysteresis), checked once when the rules
file is read (`make_condition`) and then judged per value (`Condition.holds`).
Each problem is a ValueError naming the key, for the one-line rule errors."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from enginewatch.core.points import FieldValue

# The keys that give a condition, in the order a rule error names them.
KINDS = ("above", "below", "outside", "equals")


@dataclass(frozen=True, slots=True)
class Condition:
    """`value above 90` (reset 80), `below`, `outside [lo, hi]`, `equals x`.

    While an alert fires, the reset threshold (when given) stands in for the
    threshold: `above 90, reset 80` keeps firing while the value is above 80.
    """

    kind: Literal["above", "below", "outside", "equals"]
    threshold: FieldValue | tuple[float, float]
    reset: float | tuple[float, float] | None = None

    def holds(self, value: FieldValue, firing: bool = False) -> bool:
        if self.kind == "equals":
            if isinstance(value, str) or isinstance(self.threshold, str):
                return value == self.threshold
            return float(value) == self.threshold
        if isinstance(value, str):
            return False
        limit = self.reset if firing and self.reset is not None else self.threshold
        if self.kind == "outside":
            assert isinstance(limit, tuple)
            low, high = limit
            return value < low or value > high
        assert isinstance(limit, int | float)
        return value > limit if self.kind == "above" else value < limit

    def describe(self) -> str:
        if self.kind == "outside":
            assert isinstance(self.threshold, tuple)
            text = f"outside [{_num(self.threshold[0])}, {_num(self.threshold[1])}]"
        elif isinstance(self.threshold, str):
            text = f"{self.kind} {self.threshold!r}"
        else:
            assert not isinstance(self.threshold, tuple)
            text = f"{self.kind} {_num(self.threshold)}"
        if isinstance(self.reset, tuple):
            text += f", reset [{_num(self.reset[0])}, {_num(self.reset[1])}]"
        elif self.reset is not None:
            text += f", reset {_num(self.reset)}"
        return text


def _num(value: float | int | str) -> str:
    return format(value, "g") if isinstance(value, float) else str(value)


def make_condition(given: Mapping[str, Any], reset: Any = None) -> Condition | None:
    """The condition of the keys given (KINDS whose value is not None) and the
    `reset` threshold, checked; None when no condition is given."""
    kinds = [kind for kind in KINDS if given.get(kind) is not None]
    if len(kinds) > 1:
        raise ValueError(
            f"{kinds[1]}: give one of above, below, outside, equals, not {' and '.join(kinds)}"
        )
    if not kinds:
        return None
    kind = kinds[0]
    value = given[kind]
    if kind == "outside":
        low, high = float(value[0]), float(value[1])
        _finite("outside", low, high)
        if low > high:
            raise ValueError(f"outside: the low end {low:g} is above the high end {high:g}")
        return Condition("outside", (low, high), _reset_band(reset, low, high))
    if kind == "equals":
        if reset is not None:
            raise ValueError("reset: not with equals (a value equals or it does not)")
        return Condition("equals", value if isinstance(value, str) else float(value))
    threshold = float(value)
    _finite(kind, threshold)
    above_or_below: Literal["above", "below"] = "above" if kind == "above" else "below"
    return Condition(above_or_below, threshold, _reset_level(reset, kind, threshold))


def _finite(name: str, *values: float) -> None:
    if not all(math.isfinite(v) for v in values):
        raise ValueError(f"{name}: must be a finite number")


def _reset_level(reset: Any, kind: str, threshold: float) -> float | None:
    if reset is None:
        return None
    if not isinstance(reset, int | float) or isinstance(reset, bool):
        raise ValueError(f"reset: must be a number with {kind} (got {reset!r})")
    level = float(reset)
    _finite("reset", level)
    if kind == "above" and level > threshold:
        raise ValueError(f"reset: must be at or below above ({threshold:g}), got {level:g}")
    if kind == "below" and level < threshold:
        raise ValueError(f"reset: must be at or above below ({threshold:g}), got {level:g}")
    return level


def _reset_band(reset: Any, low: float, high: float) -> tuple[float, float] | None:
    if reset is None:
        return None
    if (
        not isinstance(reset, list | tuple)
        or len(reset) != 2
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in reset)
    ):
        raise ValueError(f"reset: must be [low, high] with outside (got {reset!r})")
    band = (float(reset[0]), float(reset[1]))
    _finite("reset", *band)
    if not low <= band[0] <= band[1] <= high:
        raise ValueError(
            f"reset: must be a band inside outside's [{low:g}, {high:g}], "
            f"got [{band[0]:g}, {band[1]:g}]"
        )
    return band
