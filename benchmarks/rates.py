"""Pure arithmetic of the measurements: steady rates, percentiles, medians."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

# The steady part of a run: from 10 % to 90 % of its work, so start-up and the
# last stragglers (a half-full batch, a poll interval) do not count.
LOW, HIGH = 0.10, 0.90


class Sample(NamedTuple):
    """At `time` (seconds), `count` units of work were done in all."""

    time: float
    done: float


@dataclass(frozen=True)
class Window:
    """The steady part of a run: `units` of work done between `start` and `end`."""

    start: float
    end: float
    units: float

    @property
    def rate(self) -> float:
        return self.units / (self.end - self.start)


def steady_window(
    samples: Sequence[Sample],
    total: float,
    not_before: float | None = None,
    low: float = LOW,
    high: float = HIGH,
    resolution: float = 0.0,
) -> Window:
    """From `low` to `high` of `total`, interpolated between samples.

    With `not_before`, the window starts no earlier than that time (when the
    benchmark stopped producing the input and left the cores to the workers),
    unless the work was done by then (a tiny smoke run). `resolution`: how
    finely the samples' times are known (a record's CreateTime: 1 ms); a
    window within one tick of it counts as one tick long, so the rate is a
    lower bound (a tiny smoke run's output can all carry one CreateTime).
    """
    if total <= 0:
        raise ValueError("nothing to measure")
    start = crossing(samples, low * total)
    end = crossing(samples, high * total)
    done_at_start = low * total
    if not_before is not None and start < not_before < end:
        start, done_at_start = not_before, count_at(samples, not_before)
    if end <= start < end + resolution:
        end = start + resolution
    if end <= start:
        raise ValueError("the run is too short to measure: no time in its steady part")
    return Window(start, end, high * total - done_at_start)


def count_at(samples: Sequence[Sample], moment: float) -> float:
    """The count at `moment`, linearly interpolated; samples are in time order."""
    previous: Sample | None = None
    for sample in samples:
        if sample.time >= moment:
            if previous is None or sample.time == previous.time:
                return sample.done
            share = (moment - previous.time) / (sample.time - previous.time)
            return previous.done + share * (sample.done - previous.done)
        previous = sample
    return samples[-1].done if samples else 0.0


def crossing(samples: Sequence[Sample], level: float) -> float:
    """When the count reached `level`, linearly interpolated; samples are in time order."""
    previous: Sample | None = None
    for sample in samples:
        if sample.done >= level:
            if previous is None or sample.done == previous.done:
                return sample.time
            share = (level - previous.done) / (sample.done - previous.done)
            return previous.time + share * (sample.time - previous.time)
        previous = sample
    raise ValueError(f"the count never reached {level:g}")


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), nearest-rank: a value that was really observed."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)
