"""From archive topic messages to write requests, and the rejects beside them.

Errors are data here: a message that is not an archive message, or a point
that line protocol cannot carry, becomes a Reject (dead-lettered later) and
never stops the lines around it.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from archiver.lineprotocol import LineProtocolError, encode_point
from archiver.transcode import Transcoder
from enginewatch.core.points import ArchiveFormatError, Origin, Point, decode_archive


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


@dataclass(frozen=True, slots=True)
class Request:
    """Lines of one write request, each ending in a newline; `sources[i]` made line i."""

    lines: list[str]
    sources: list[Record]

    def body(self, low: int = 0, high: int | None = None) -> bytes:
        return "".join(self.lines[low:high]).encode()


class Requests:
    """Records in, write requests of at most `max_points` lines out, rejects kept aside.

    Lines come from the Transcoder; a message it finds unusual takes the
    reference path (decode_archive, then encode_point point by point), which
    says exactly what is wrong with it or with which of its points.
    """

    def __init__(self, max_points: int, transcoder: Transcoder) -> None:
        self.max_points = max_points
        self.transcoder = transcoder
        self.rejects: list[Reject] = []
        self._lines: list[str] = []
        self._sources: list[Record] = []

    def add(self, record: Record) -> None:
        lines = self.transcoder.lines(record.value) if record.value is not None else None
        if lines is None:
            lines = self._checked_lines(record)
        self._lines += lines
        self._sources += [record] * len(lines)

    def full(self) -> Request | None:
        """The next request of `max_points` lines, once there are that many."""
        if len(self._lines) < self.max_points:
            return None
        return self._take(self.max_points)

    def rest(self) -> Request | None:
        """What is left (fewer than `max_points` lines, once `full` said None)."""
        return self._take(len(self._lines)) if self._lines else None

    def _take(self, count: int) -> Request:
        request = Request(self._lines[:count], self._sources[:count])
        del self._lines[:count], self._sources[:count]
        return request

    def _checked_lines(self, record: Record) -> list[str]:
        if record.value is None:
            self.rejects.append(Reject("empty archive message", record.origin, record.key, None))
            return []
        try:
            points = decode_archive(record.value)
        except ArchiveFormatError as exc:
            self.rejects.append(
                Reject(f"not an archive message: {exc}", record.origin, record.key, record.value)
            )
            return []
        lines = []
        for point in points:
            try:
                lines.append(f"{encode_point(point)}\n")
            except LineProtocolError as exc:
                self.rejects.append(Reject(str(exc), record.origin, record.key, _point_json(point)))
        return lines


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
