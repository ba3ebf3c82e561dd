"""What the benchmarks feed the workers, and what must come out: pure, deterministic.

The input is the simulated fleet's recording (enginewatch.tools.fleet), keyed
by engine as engines publish it. The expected output is computed here with the
agents' own pure pipeline, so a run is complete when exactly that much has
arrived, and no figure depends on how long anybody guessed a run would take.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from agents.pipeline import Accepted, handle
from enginewatch.core.points import Point
from enginewatch.tools.fleet import (
    FleetConfig,
    Notification,
    build_fleet,
    engine_map,
    notifications,
)

ENGINES = 20
SEED = 7
RATE = 2000.0  # the fleet's own pace; replays go as fast as the broker takes them
START = datetime(2024, 5, 1, tzinfo=UTC)
SENSOR_REPORT = b'"type":"sensor-report"'


@dataclass(frozen=True)
class Recording:
    values: list[bytes]
    keys: list[bytes]
    models: dict[str, str]  # the engine map: engine UUID -> model name

    def __len__(self) -> int:
        return len(self.values)


@dataclass(frozen=True)
class Expected:
    """What the agents make of a recording."""

    points: list[Point]
    field_values: int  # over all points: what InfluxDB counts once they are written
    carried: dict[str, dict[str, float]]  # the carried-amounts state at the end, per engine


def recording(count: int, sensor_reports_only: bool, engines: int = ENGINES) -> Recording:
    """The first `count` notifications of the simulated fleet (optionally only its reports)."""
    duration = count / RATE * (1.1 if sensor_reports_only else 1.02) + 1
    config = FleetConfig(engines=engines, rate=RATE, start=START, duration=duration, seed=SEED)
    chosen: list[Notification] = []
    for message in notifications(config):
        if sensor_reports_only and SENSOR_REPORT not in message.value:
            continue
        chosen.append(message)
        if len(chosen) == count:
            break
    return Recording(
        values=[m.value for m in chosen],
        keys=[m.key for m in chosen],
        models=engine_map(build_fleet(engines, SEED)),
    )


def expected(values: Sequence[bytes], models: dict[str, str]) -> Expected:
    carry: dict[str, dict[str, float]] = {}
    points: list[Point] = []

    def model_of(src: str) -> str:
        return models.get(src, "unknown")

    for value in values:
        outcome = handle(value, model_of, carry)
        if isinstance(outcome, Accepted):
            points.extend(outcome.points)
    return Expected(points, sum(len(p.fields) for p in points), carry)


def deep_size(value: object) -> int:
    """Bytes a plain structure of dicts, lists, strings and numbers takes in memory."""
    size = sys.getsizeof(value)
    if isinstance(value, dict):
        size += sum(deep_size(k) + deep_size(v) for k, v in value.items())
    elif isinstance(value, list | tuple):
        size += sum(deep_size(item) for item in value)
    return size
