"""Reading the models' records: a raw Kafka value -> the observations of each monitor
that reads its topic, and what is wrong with it.

An observation is what the monitor stage needs of a record, as a small JSON
object (it travels on the monitors' internal topic, keyed by monitor):

    {"m": monitor, "k": "s" (a profiled stream) | "p" (prediction) | "t" (truth),
     "s": stream tag, "t": event time (ns), "o": [topic, partition, offset],
     "v": {field: value}, "miss": [fields], "bad": [fields]}      for a stream
     "x": value or null, "id": record id or null, "bad": true?   for a join side
    "z": 1 marks a record unreadable (not JSON, not of its shape, no usable time):
    its time is the Kafka timestamp, which does not move the monitor's clock.

A field that is absent or null is missing; one of the wrong type, invalid. A
record that is not JSON, not of the stream's shape or without a usable time
has every field invalid and is counted in the window of its Kafka timestamp.
Every record with an absent or invalid field is also a dead letter, with the
reasons; a null is a value ("no value"), counted and not rejected.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from monitors.config import JoinSide, Monitor, Monitors, StreamSpec

NS = 1_000_000_000
# InfluxDB's range of times (years 1677 to 2262), in ns.
MIN_TIME, MAX_TIME = -(2**63) + 2, 2**63 - 2
_NOT_JSON = object()
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Reader:
    """One monitor's reading of one topic: a stream to profile, or a join side."""

    monitor: Monitor
    kind: str  # "s", "p" or "t"
    stream: StreamSpec | None = None
    side: JoinSide | None = None


@dataclass(slots=True)
class Reading:
    """What a record gave: observations (for the monitors' topic) and its problems."""

    observations: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def readers(monitors: Monitors) -> dict[str, list[Reader]]:
    """Topic -> the readings of it, in file order."""
    by_topic: dict[str, list[Reader]] = {}
    for monitor in monitors:
        for stream in monitor.streams:
            by_topic.setdefault(stream.topic, []).append(Reader(monitor, "s", stream=stream))
        if monitor.quality is not None:
            q = monitor.quality
            by_topic.setdefault(q.prediction.topic, []).append(
                Reader(monitor, "p", side=q.prediction)
            )
            by_topic.setdefault(q.truth.topic, []).append(Reader(monitor, "t", side=q.truth))
    return by_topic


def read(
    readers_of_topic: Iterable[Reader],
    origin: tuple[str, int, int],
    kafka_time: int,
    value: bytes | None,
) -> Reading:
    """Every reading of one record; `kafka_time` is its Kafka timestamp (ns)."""
    reading = Reading()
    decoded = _decode(value)
    for reader in readers_of_topic:
        if reader.stream is not None:
            observation = _stream(reader, reader.stream, decoded, origin, kafka_time, reading)
        else:
            assert reader.side is not None
            observation = _side(reader, reader.side, decoded, origin, kafka_time, reading)
        reading.observations.append((reader.monitor.name, observation))
    return reading


def _decode(value: bytes | None) -> Any:
    if value is None:
        return _NOT_JSON
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return _NOT_JSON


def _stream(
    reader: Reader,
    spec: StreamSpec,
    decoded: Any,
    origin: tuple[str, int, int],
    kafka_time: int,
    reading: Reading,
) -> dict[str, Any]:
    monitor = reader.monitor
    base = {"m": monitor.name, "k": "s", "s": spec.stream, "o": list(origin)}
    where = f"monitor {monitor.name!r}, stream {spec.stream!r}"
    values: dict[str, Any] = {}
    missing: list[str] = []
    bad: list[str] = []
    if decoded is _NOT_JSON:
        reading.problems.append(f"{where}: not JSON")
        return {**base, "t": kafka_time, "v": {}, "miss": [], "bad": list(spec.fields), "z": 1}
    if spec.bare:
        ((name, field_spec),) = spec.fields.items()
        value = _typed(decoded, field_spec.type)
        if value is None:
            reading.problems.append(f"{where}: a record must be a {_kind(field_spec.type)}")
            return {**base, "t": kafka_time, "v": {}, "miss": [], "bad": [name], "z": 1}
        else:
            values[name] = value
        return {**base, "t": kafka_time, "v": values, "miss": missing, "bad": bad}
    if not isinstance(decoded, dict):
        reading.problems.append(f"{where}: a record must be a JSON object")
        return {**base, "t": kafka_time, "v": {}, "miss": [], "bad": list(spec.fields), "z": 1}
    time, time_problem = _time(monitor, decoded, kafka_time)
    if time_problem:
        reading.problems.append(f"{where}: {time_problem}")
        return {**base, "t": kafka_time, "v": {}, "miss": [], "bad": list(spec.fields), "z": 1}
    for name, field_spec in spec.fields.items():
        if name not in decoded:
            missing.append(name)
            reading.problems.append(f"{where}: field {name!r} is missing")
            continue
        raw = decoded[name]
        if raw is None:
            missing.append(name)
            continue
        value = _typed(raw, field_spec.type)
        if value is None:
            bad.append(name)
            reading.problems.append(
                f"{where}: field {name!r} must be a {_kind(field_spec.type)}, got {_show(raw)}"
            )
        else:
            values[name] = value
    return {**base, "t": time, "v": values, "miss": missing, "bad": bad}


def _side(
    reader: Reader,
    side: JoinSide,
    decoded: Any,
    origin: tuple[str, int, int],
    kafka_time: int,
    reading: Reading,
) -> dict[str, Any]:
    monitor = reader.monitor
    assert monitor.quality is not None
    kind = "numeric" if monitor.quality.task == "regression" else "categorical"
    role = "prediction" if reader.kind == "p" else "truth"
    base: dict[str, Any] = {
        "m": monitor.name,
        "k": reader.kind,
        "s": side.stream,
        "o": list(origin),
    }
    where = f"monitor {monitor.name!r}, {role} {side.stream!r}"
    bad = {**base, "t": kafka_time, "x": None, "id": None, "bad": True, "z": 1}
    if decoded is _NOT_JSON:
        reading.problems.append(f"{where}: not JSON")
        return bad
    if side.field is None and side.id is None:
        value = _typed(decoded, kind)
        if value is None:
            reading.problems.append(f"{where}: a record must be a {_kind(kind)}")
            return bad
        return {**base, "t": kafka_time, "x": value, "id": None}
    if not isinstance(decoded, dict):
        reading.problems.append(f"{where}: a record must be a JSON object")
        return bad
    time, time_problem = _time(monitor, decoded, kafka_time)
    if time_problem:
        reading.problems.append(f"{where}: {time_problem}")
        return bad
    raw = decoded.get(side.field) if side.field is not None else None
    value = _typed(raw, kind) if side.field is not None else None
    if value is None:
        got = "it is missing" if side.field not in decoded else f"got {_show(raw)}"
        reading.problems.append(f"{where}: field {side.field!r} must be a {_kind(kind)}, {got}")
        return {**base, "t": time, "x": None, "id": None, "bad": True}
    record_id: str | None = None
    if side.id is not None:
        raw_id = decoded.get(side.id)
        if (isinstance(raw_id, str) and raw_id) or type(raw_id) is int:
            record_id = str(raw_id)
        else:
            got = "it is missing" if side.id not in decoded else f"got {_show(raw_id)}"
            reading.problems.append(
                f"{where}: id field {side.id!r} must be a non-empty string or an integer, {got}"
            )
            return {**base, "t": time, "x": None, "id": None, "bad": True}
    return {**base, "t": time, "x": value, "id": record_id}


def _typed(raw: Any, kind: str) -> float | str | None:
    """The value as its field's type, or None when it is not of that type."""
    if kind == "numeric":
        if isinstance(raw, int | float) and not isinstance(raw, bool):
            number = float(raw)
            return number if math.isfinite(number) else None
        return None
    if isinstance(raw, str):
        return raw
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, int):
        return str(raw)
    return None


def _kind(kind: str) -> str:
    return "finite number" if kind == "numeric" else "string, integer or boolean"


def _show(raw: Any) -> str:
    text = orjson.dumps(raw).decode()
    return text if len(text) <= 60 else text[:57] + "..."


def _time(monitor: Monitor, record: Mapping[str, Any], kafka_time: int) -> tuple[int, str | None]:
    """The record's event time (ns): its `time` field, else the Kafka timestamp."""
    if monitor.time is None:
        return kafka_time, None
    raw = record.get(monitor.time)
    time = parse_time(raw)
    if time is None:
        got = "it is missing" if monitor.time not in record else f"got {_show(raw)}"
        return kafka_time, (
            f"time field {monitor.time!r} must be seconds since the epoch or an ISO-8601 "
            f"time, {got}"
        )
    return time, None


def parse_time(raw: Any) -> int | None:
    """Seconds since the epoch (a number) or an ISO-8601 time with a zone -> ns."""
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        if not math.isfinite(raw):
            return None
        if isinstance(raw, int) or abs(raw) > MAX_TIME / NS:
            whole, fraction = int(raw), 0.0
        else:
            # Whole seconds and the fraction apart: a float's 53 bits cannot hold ns since 1970.
            whole = math.floor(raw)
            fraction = raw - whole
        ns = whole * NS + round(fraction * NS)
    elif isinstance(raw, str):
        try:
            moment = datetime.fromisoformat(raw)
        except ValueError:
            return None
        if moment.tzinfo is None:
            return None
        ns = (moment - EPOCH) // timedelta(microseconds=1) * 1000
    else:
        return None
    return ns if MIN_TIME <= ns <= MAX_TIME else None
