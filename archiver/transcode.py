"""Archive messages straight to line protocol: the archiver's hot path.

Decoding every point into a Point and encoding it again (enginewatch.core.points,
archiver.lineprotocol) checks everything, and costs more than InfluxDB spends
writing the point. Here, a message is read once and each point goes straight
to its line, with what repeats endlessly worked out once: the escaped
measurement and tags of a series and the escaped keys of its fields. A
combination seen for the first time is checked by the reference path
(decode_archive's rules and the encoder's), so a cache hit needs no checks:
only the same strings can match.

Anything out of the ordinary (malformed JSON, a missing key, a value of an
unexpected type, a float that is not finite, an integer or timestamp outside
int64) makes `lines` answer None, and the caller takes the reference path for
that message, which says exactly what is wrong. So both paths accept the same
messages and write the same lines (tests/unit/test_archiver_transcode.py
checks that on generated messages).
"""

from __future__ import annotations

from typing import Any

import orjson

from archiver.lineprotocol import INT64_MAX, INT64_MIN, field_key, field_value, series_key
from enginewatch.core.points import ARCHIVE_VERSION, point_from_json

# Series are few (engines x taps); past this many, or this many bytes of
# series keys, the cache starts over rather than grow without bound.
CACHE_SIZE = 65536
CACHE_BYTES = 32 * 1024 * 1024

# What sends a message to the reference path, which then says what is wrong.
# ValueError includes ArchiveFormatError and LineProtocolError.
_UNUSUAL = (KeyError, TypeError, AttributeError, ValueError)


class Transcoder:
    """Turns archive messages into lines of line protocol, each ending in a newline."""

    def __init__(self) -> None:
        # Measurement, tags and field keys -> the line's start and each field's "key=".
        self._known: dict[tuple[Any, ...], tuple[str, tuple[str, ...]]] = {}
        self._known_bytes = 0  # about what the cached keys and lines take

    def lines(self, raw: bytes) -> list[str] | None:
        """The lines of every point of an archive message, in order; None if unusual."""
        try:
            message = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return None
        if type(message) is not dict or message.get("version") != ARCHIVE_VERSION:
            return None
        items = message.get("points")
        if type(items) is not list:
            return None
        try:
            return self._lines(items)
        except _UNUSUAL:
            return None

    def _lines(self, items: list[Any]) -> list[str]:
        # One loop, locals bound once: this runs for every point the archiver writes.
        known_get = self._known.get
        lines: list[str] = []
        append = lines.append
        for item in items:
            tags, fields = item["tags"], item["fields"]
            if type(fields) is not dict:
                raise TypeError
            # One flat tuple; the tag count makes it unambiguous.
            key = (item["measurement"], len(tags), *tags.keys(), *tags.values(), *fields.keys())
            known = known_get(key)
            if known is None:
                known = self._learn(key, item)
            prefix, names = known
            values = []
            # As long by construction (the key holds the field keys); strict= would
            # cost a keyword call per point.
            for name, value in zip(names, fields.values()):  # noqa: B905
                kind = type(value)
                if kind is float:
                    if value - value != 0.0:  # inf and nan: never equal to zero
                        raise ValueError
                    values.append(name + repr(value))  # the encoder's float form, inlined
                elif kind is int and INT64_MIN <= value <= INT64_MAX:
                    values.append(f"{name}{value}i")
                elif kind is str:
                    values.append(name + field_value(name, value))
                else:
                    raise ValueError
            time = item["time"]
            if type(time) is not int or not INT64_MIN < time < INT64_MAX:
                raise ValueError
            append(f"{prefix} {','.join(values)} {time}\n")
        return lines

    def _learn(self, key: tuple[Any, ...], item: Any) -> tuple[str, tuple[str, ...]]:
        point = point_from_json(item, 0)  # every rule of the archive format
        # LineProtocolError, a ValueError, leaves anything unusual to the reference path.
        prefix = series_key(point.measurement, point.tags)
        names = tuple(f"{field_key(name)}=" for name in point.fields)
        # The key holds the same names as the prefix and the field keys, once more.
        size = 2 * (len(prefix) + sum(len(name) for name in names))
        if len(self._known) >= CACHE_SIZE or self._known_bytes + size > CACHE_BYTES:
            self._known.clear()
            self._known_bytes = 0
        self._known[key] = prefix, names
        self._known_bytes += size
        return prefix, names
