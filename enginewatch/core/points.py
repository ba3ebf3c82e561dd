"""Metric points and the archive topic's message format (version 1).

A message on the archive topic is one JSON object holding the points derived
from one or more input messages of one engine, in order (the agents send one
per engine and batch), so the archive hop costs far less than one message per
point (schema: enginewatch/core/schemas/archive-v1.schema.json):

    {"version": 1,
     "origin": {"topic": "notify", "partition": 0, "offset": 42},
     "points": [{"measurement": "records",
                 "tags": {"engine": "...", "model": "...", "slot": "0", "direction": "input"},
                 "fields": {"count": 10.0, "rps": 2.0},
                 "time": 1700000000000000000}]}

`time` is integer nanoseconds since the epoch (UTC). Field values keep their
JSON type: floats are written with a decimal point, `code` and `ok` are
integers, strings are strings.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

ARCHIVE_VERSION = 1

FieldValue = float | int | str


@dataclass(frozen=True, slots=True)
class Origin:
    """Where an input message came from."""

    topic: str
    partition: int
    offset: int


@dataclass(frozen=True, slots=True)
class Point:
    """One InfluxDB point: measurement, tags, fields and a nanosecond timestamp."""

    measurement: str
    tags: Mapping[str, str]
    fields: Mapping[str, FieldValue]
    time: int


# The longest tag value (and name: measurement, tag or field key) enginewatch
# writes, in UTF-8 bytes. Far above any engine id, tap or model name, far below
# InfluxDB's 64 KiB series key; it bounds every cache keyed by series.
MAX_NAME_BYTES = 256


def tag_value_problem(value: str) -> str | None:
    """Why line protocol cannot carry `value` as a tag value, or None when it can.

    InfluxDB drops an empty tag value, and a trailing backslash would escape
    the separator after it.
    """
    if not value:
        return "is empty"
    if value.endswith("\\"):
        return "ends with a backslash"
    # A character is at most 4 bytes: only long text needs encoding to tell.
    if len(value) > MAX_NAME_BYTES // 4 and (size := len(value.encode())) > MAX_NAME_BYTES:
        return f"is longer than {MAX_NAME_BYTES} bytes ({size})"
    return None


class ArchiveFormatError(ValueError):
    """An archive topic message does not follow the archive format."""


def encode_archive(points: Iterable[Point], origin: Origin | None = None) -> bytes:
    """Serialise points as one archive message; `origin` is the first input message behind them."""
    message: dict[str, Any] = {
        "version": ARCHIVE_VERSION,
        "points": [
            {"measurement": p.measurement, "tags": p.tags, "fields": p.fields, "time": p.time}
            for p in points
        ],
    }
    if origin is not None:
        message["origin"] = {
            "topic": origin.topic,
            "partition": origin.partition,
            "offset": origin.offset,
        }
    return orjson.dumps(message)


def decode_archive(raw: bytes) -> list[Point]:
    """Parse one archive message into its points, or raise ArchiveFormatError."""
    try:
        message = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ArchiveFormatError(f"not JSON: {exc}") from None
    if not isinstance(message, dict):
        raise ArchiveFormatError("not a JSON object")
    if message.get("version") != ARCHIVE_VERSION:
        raise ArchiveFormatError(f"unsupported archive version {message.get('version')!r}")
    raw_points = message.get("points")
    if not isinstance(raw_points, list):
        raise ArchiveFormatError("'points' is not a list")
    return [point_from_json(item, index) for index, item in enumerate(raw_points)]


def point_from_json(item: Any, index: int) -> Point:
    """One point of an archive message (its JSON object), or ArchiveFormatError naming it."""
    if not isinstance(item, dict):
        raise ArchiveFormatError(f"point {index} is not an object")
    measurement, tags, fields, time = (
        item.get("measurement"),
        item.get("tags"),
        item.get("fields"),
        item.get("time"),
    )
    if not isinstance(measurement, str) or not measurement:
        raise ArchiveFormatError(f"point {index}: 'measurement' must be a non-empty string")
    if not isinstance(tags, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in tags.items()
    ):
        raise ArchiveFormatError(f"point {index}: 'tags' must map strings to strings")
    if (
        not isinstance(fields, dict)
        or not fields
        or not all(
            isinstance(k, str) and isinstance(v, float | int | str) and not isinstance(v, bool)
            for k, v in fields.items()
        )
    ):
        raise ArchiveFormatError(
            f"point {index}: 'fields' must map strings to numbers or strings, at least one"
        )
    if not isinstance(time, int) or isinstance(time, bool):
        raise ArchiveFormatError(f"point {index}: 'time' must be integer nanoseconds")
    return Point(measurement, tags, fields, time)
