"""From archive topic messages to lines ready to write, and the rejects beside them.

Errors are data here: a message that is not an archive message, or a point
that line protocol cannot carry, becomes a Reject (dead-lettered later) and
never stops the lines around it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import orjson

from archiver.lineprotocol import LineProtocolError, encode_point
from enginewatch.points import ArchiveFormatError, Origin, Point, decode_archive


@dataclass(frozen=True, slots=True)
class Record:
    """One archive topic message and where it was read."""

    key: bytes | None
    value: bytes | None
    origin: Origin


@dataclass(frozen=True, slots=True)
class Reject:
    """Something the archiver will not write, with the reason and the original."""

    error: str
    origin: Origin
    key: bytes | None
    value: bytes | None


@dataclass(slots=True)
class Batch:
    """Lines in message order; `sources[i]` is the record line i came from."""

    lines: list[str] = field(default_factory=list)
    sources: list[Record] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    messages: int = 0


def assemble(records: Iterable[Record]) -> Batch:
    """Decode and encode the points of the records, keeping the failures apart."""
    batch = Batch()
    for record in records:
        batch.messages += 1
        if record.value is None:
            batch.rejects.append(Reject("empty archive message", record.origin, record.key, None))
            continue
        try:
            points = decode_archive(record.value)
        except ArchiveFormatError as exc:
            batch.rejects.append(
                Reject(f"not an archive message: {exc}", record.origin, record.key, record.value)
            )
            continue
        for point in points:
            try:
                line = encode_point(point)
            except LineProtocolError as exc:
                batch.rejects.append(
                    Reject(str(exc), record.origin, record.key, _point_json(point))
                )
                continue
            batch.lines.append(line)
            batch.sources.append(record)
    return batch


def _point_json(point: Point) -> bytes:
    """A point line protocol cannot carry is kept as its archive JSON object."""
    return orjson.dumps(
        {
            "measurement": point.measurement,
            "tags": dict(point.tags),
            "fields": dict(point.fields),
            "time": point.time,
        }
    )
