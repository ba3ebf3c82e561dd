"""Archive topic messages for archiver tests, and the points InfluxDB holds, compared exactly."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from enginewatch.core.influxql import InfluxQueryError
from enginewatch.core.points import Origin, Point, encode_archive
from enginewatch.harness import kafka
from enginewatch.harness.influx import query

T0 = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z
ENGINES = [f"0d6f{i:04x}-1b2c-4d5e-8f90-a1b2c3d4e5f6" for i in range(5)]
# Model names as operators write them: spaces, commas, equals signs, quotes, non-ASCII.
MODELS = ["fraud model, v=2", 'churn "beta"', "Modèle ünïcode 模型", "plain", "a\\b path"]

PointKey = tuple[str, frozenset[tuple[str, str]], frozenset[tuple[str, Any]], int]


def sample_messages(count: int, start: int = 0) -> list[list[Point]]:
    """`count` archive messages with 1-2 points each, of every kind of field."""
    messages = []
    for i in range(start, start + count):
        engine, model = ENGINES[i % len(ENGINES)], MODELS[i % len(MODELS)]
        base = {"engine": engine, "model": model}
        time = T0 + i * 1_000_000
        kind = i % 4
        if kind == 0:
            tags = {**base, "slot": str(i % 2), "direction": "input" if i % 2 == 0 else "output"}
            points = [Point("records", tags, {"count": float(i % 7), "rps": i / 8}, time)]
        elif kind == 1:
            points = [
                Point("engine_status", base, {"code": i % 7 - 1, "state": "running"}, time),
                Point("health", {**base, "instance": "db"}, {"ok": 1, "health": "ok"}, time),
            ]
        elif kind == 2:
            text = f'line {i}: "quoted", back\\slash\nsecond line ü'
            points = [Point("engine_logs", {**base, "level": "info"}, {"text": text}, time)]
        else:
            points = [Point("sensor", {**base, "tap": "temperature"}, {"value": 20.0 + i}, time)]
        messages.append(points)
    return messages


def produce_messages(topic: str, messages: list[list[Point]], first_offset: int = 0) -> None:
    """Publish as the agents do: one message per input, keyed by engine UUID."""
    values = [
        encode_archive(points, Origin("notify", 0, first_offset + i))
        for i, points in enumerate(messages)
    ]
    keys = [points[0].tags["engine"].encode() for points in messages]
    kafka.produce(topic, values, keys=keys)


def keys_of(points: Iterable[Point]) -> set[PointKey]:
    return {
        (
            p.measurement,
            frozenset((k, v) for k, v in p.tags.items() if v),
            frozenset(p.fields.items()),
            p.time,
        )
        for p in points
    }


def points_in(url: str, database: str) -> list[PointKey]:
    """Every point of the database, split back into tags and fields, one per row."""
    tag_keys = {s.name: {v[0] for v in s.values} for s in query(database, "SHOW TAG KEYS", url)}
    found: list[PointKey] = []
    for series in query(database, "SELECT * FROM /.*/", url):
        name, tags_of = series.name, tag_keys.get(series.name, set())
        for values in series.values:
            row = dict(zip(series.columns, values, strict=True))
            time = row.pop("time")
            tags = frozenset((k, v) for k, v in row.items() if k in tags_of and v is not None)
            fields = frozenset((k, v) for k, v in row.items() if k not in tags_of and v is not None)
            found.append((name, tags, fields, time))
    return found


def field_types(url: str, database: str) -> dict[tuple[str, str], str]:
    return {
        (series.name, key): kind
        for series in query(database, "SHOW FIELD KEYS", url)
        for key, kind in series.values
    }


def count_in(url: str, database: str) -> int:
    try:
        return len(points_in(url, database))
    except InfluxQueryError:
        return 0
