"""The FastScore Grafana tutorial's flattened measurements, for dashboards built on it.

The tutorial writes one measurement per model and metric, named like
`{model}.{slot}.record.count`, each with a `value` field. With
ENGINEWATCH_TUTORIAL_NAMES on, the agents write those too, beside the tagged
measurements, so such dashboards keep working while a team moves over. Two
differences, both on purpose:

- `{model}.{slot}.rps` is the contract's rate. The tutorial's own divides the
  difference of two counts by the previous report's `delta_time` (and takes its
  absolute value), which is not the records per second of either report.
- `{model}.engine.status` keeps the tutorial's codes: 1 running, 2 error, 0
  anything else, so its value mappings stay right.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from enginewatch.core.points import MAX_NAME_BYTES, Point

TUTORIAL_STATUS = {"running": 1.0, "error": 2.0}


def tutorial_points(points: Iterable[Point]) -> list[Point]:
    """The tutorial-named points for the contract's points, in order."""
    named: list[Point] = []
    for point in points:
        for name, value in _names(point):
            measurement = f"{point.tags['model']}.{name}"
            # A long model name would make a measurement line protocol refuses.
            if len(measurement.encode()) <= MAX_NAME_BYTES:
                tags = {"engine": point.tags["engine"], "model": point.tags["model"]}
                named.append(Point(measurement, tags, {"value": value}, point.time))
    return named


def _names(point: Point) -> list[tuple[str, float]]:
    """(name after the model, value) for each tutorial measurement a point gives."""
    fields, tags = point.fields, point.tags
    if point.measurement == "records":
        named = [(f"{tags['slot']}.record.count", fields["count"])]
        if "rps" in fields:
            named.append((f"{tags['slot']}.rps", fields["rps"]))
        return _floats(named)
    if point.measurement == "rejections" and "source" not in tags:
        return _floats(
            [(f"{tags['slot']}.record.rejected.by.{tags['reason']}.count", fields["count"])]
        )
    if point.measurement == "system":
        name = "cpu.utilization" if "cpu_utilization" in fields else "memory"
        return _floats([(name, next(iter(fields.values())))])
    if point.measurement == "engine_status":
        return [("engine.status", TUTORIAL_STATUS.get(str(fields["state"]), 0.0))]
    return []


def _floats(named: Sequence[tuple[str, object]]) -> list[tuple[str, float]]:
    return [(name, float(value)) for name, value in named if isinstance(value, int | float)]
