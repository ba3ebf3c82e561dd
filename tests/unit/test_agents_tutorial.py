"""The tutorial's flattened measurements, written beside the tagged ones when asked."""

from __future__ import annotations

from typing import Any

import orjson

from agents.records import Input
from agents.stages import derive_archive
from agents.tutorial import tutorial_points
from enginewatch.core.points import Origin, Point, decode_archive

T = 1_714_564_800_000_000_000


def _message(second: int, **fields: Any) -> bytes:
    base = {"src": "e1", "timestamp": f"2024-05-01T12:00:{second:02d}Z"}
    return orjson.dumps(base | fields)


def _derived(values: list[bytes], tutorial: bool) -> list[Point]:
    inputs = [Input(Origin("notify", 0, n), None, v, {}) for n, v in enumerate(values)]
    output = derive_archive(inputs, lambda _: "iris", {}, tutorial_names=tutorial)
    assert output.rejects == []
    return [p for _, value, _ in output.messages for p in decode_archive(value)]


def _report(second: int, tap: str, data: Any, delta_time: float | None = 1.0) -> bytes:
    fields: dict[str, Any] = {"type": "sensor-report", "tap": tap, "data": data}
    if delta_time is not None:
        fields["delta_time"] = delta_time
    return _message(second, **fields)


def test_each_tutorial_measurement_beside_the_tagged_one() -> None:
    values = [
        _report(0, "manifold.0.records.count", [2, 3], delta_time=0),
        _report(1, "manifold.0.records.count", 5, delta_time=2.0),
        _report(2, "manifold.1.records.rejected.by.schema", [{"x": 1}, {"x": 2}]),
        _report(3, "manifold.1.records.rejected.by.encoding", 4),
        _report(4, "sys.cpu.utilization", 0.5),
        _report(5, "sys.memory", [100, 300]),
        _message(6, type="engine-state", state="RUNNING"),
        _message(7, type="engine-state", state="error"),
        _message(8, type="engine-state", state="paused"),
    ]
    tutorial = [p for p in _derived(values, True) if p.measurement.startswith("iris.")]
    assert [(p.measurement, p.fields, p.time) for p in tutorial] == [
        ("iris.0.record.count", {"value": 5.0}, T),
        ("iris.0.record.count", {"value": 5.0}, T + 1_000_000_000),
        # The contract's rate: (5 + the carried 5) / 2 s, not the tutorial's |5 - 5| / 0.
        ("iris.0.rps", {"value": 5.0}, T + 1_000_000_000),
        ("iris.1.record.rejected.by.schema.count", {"value": 2.0}, T + 2_000_000_000),
        ("iris.1.record.rejected.by.encoding.count", {"value": 4.0}, T + 3_000_000_000),
        ("iris.cpu.utilization", {"value": 0.5}, T + 4_000_000_000),
        ("iris.memory", {"value": 200.0}, T + 5_000_000_000),
        ("iris.engine.status", {"value": 1.0}, T + 6_000_000_000),
        ("iris.engine.status", {"value": 2.0}, T + 7_000_000_000),
        ("iris.engine.status", {"value": 0.0}, T + 8_000_000_000),
    ]
    assert all(p.tags == {"engine": "e1", "model": "iris"} for p in tutorial)


def test_off_by_default_and_the_tagged_points_unchanged() -> None:
    values = [
        _report(0, "manifold.0.records.count", 5),
        _message(1, type="engine-state", state="init"),
    ]
    tagged = _derived(values, False)
    assert [p.measurement for p in tagged] == ["records", "engine_status"]
    both = _derived(values, True)
    assert [p for p in both if not p.measurement.startswith("iris.")] == tagged


def test_a_model_name_too_long_for_a_measurement_gives_no_tutorial_point() -> None:
    point = Point("system", {"engine": "e1", "model": "m" * 250}, {"memory": 1.0}, T)
    assert tutorial_points([point]) == []
