"""InfluxDB line protocol for archive points: exact where the format allows it.

Escaping follows the line protocol reference: commas and spaces in measurement
names; commas, equals signs and spaces in tag keys, tag values and field keys;
double quotes and backslashes in string field values. Line breaks and tabs in
names are written as the two characters `\\n`, `\\r`, `\\t`, as InfluxDB's own
clients do: a raw line break would end the line.

What line protocol cannot carry is refused with LineProtocolError rather than
written wrongly: a name ending in a backslash; in a measurement or field key,
a backslash before a comma, space, equals sign or double quote (InfluxDB reads
the pair as one escape, losing the backslash or the whole point); a
measurement starting with `#` (a comment, silently dropped); empty keys,
non-finite floats, integers and timestamps outside int64.

Field types follow the value's type, so a field never changes type: floats are
written with their shortest exact form (`1.0`, never `1`), ints with the `i`
suffix, strings quoted. Tags are sorted by key (what InfluxDB does itself) and
tags with an empty value are left out (InfluxDB treats them as absent).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import lru_cache

from enginewatch.core.points import MAX_NAME_BYTES, FieldValue, Point

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

_CONTROL = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_MEASUREMENT = str.maketrans({",": "\\,", " ": "\\ ", **_CONTROL})
_KEY = str.maketrans({",": "\\,", "=": "\\=", " ": "\\ ", **_CONTROL})
_STRING = str.maketrans({"\\": "\\\\", '"': '\\"'})

# After a backslash, InfluxDB reads these as an escape pair and drops the
# backslash, or cuts the name there (found against InfluxDB 1.6; tag keys and
# values keep such backslashes intact and only a trailing one breaks them).
_AMBIGUOUS_MEASUREMENT = frozenset(', ="')
_AMBIGUOUS_TAG: frozenset[str] = frozenset()
_AMBIGUOUS_FIELD_KEY = frozenset(', ="')

# Names repeat endlessly (engines, models, taps): escape each distinct one once.
_CACHE_SIZE = 65536


class LineProtocolError(ValueError):
    """A point that line protocol cannot carry faithfully."""


def encode_point(point: Point) -> str:
    """One line of line protocol (no trailing newline), or LineProtocolError."""
    return (
        f"{series_key(point.measurement, point.tags)} {field_set(point.fields)} "
        f"{timestamp(point.time)}"
    )


def series_key(measurement: str, tags: Mapping[str, str]) -> str:
    """The measurement and tags part of a line: what every point of a series shares."""
    line = _measurement(measurement)
    for key in sorted(tags):
        value = tags[key]
        if value:
            line += f",{_tag_key(key)}={_tag_value(value)}"
    return line


def field_set(fields: Mapping[str, FieldValue]) -> str:
    fields_text = ",".join(
        f"{field_key(key)}={field_value(key, value)}" for key, value in fields.items()
    )
    if not fields_text:
        raise LineProtocolError("a point needs at least one field")
    return fields_text


def timestamp(time: int) -> int:
    if not INT64_MIN < time < INT64_MAX:
        raise LineProtocolError(f"timestamp {time} is outside InfluxDB's int64 range")
    return time


def field_value(key: str, value: object) -> str:
    kind = type(value)
    if kind is float:
        assert isinstance(value, float)
        if not math.isfinite(value):
            raise LineProtocolError(f"field {key!r} is {value}, which InfluxDB cannot store")
        # repr is the shortest exact form and always marks a float: 1.0, 1e+16, 1e-05.
        return repr(value)
    if kind is int:
        assert isinstance(value, int)
        if not INT64_MIN <= value <= INT64_MAX:
            raise LineProtocolError(f"integer field {key!r} is outside int64: {value}")
        return f"{value}i"
    if kind is str:
        assert isinstance(value, str)
        if "\\" in value or '"' in value:
            value = value.translate(_STRING)
        return f'"{value}"'
    raise LineProtocolError(f"field {key!r} has unsupported type {kind.__name__}")


@lru_cache(maxsize=_CACHE_SIZE)
def _measurement(name: str) -> str:
    if name.startswith("#"):
        raise LineProtocolError(f"measurement {name!r} starts with '#', which marks a comment")
    _check_backslashes("measurement", name, _AMBIGUOUS_MEASUREMENT)
    _check_length("measurement", name)
    return name.translate(_MEASUREMENT)


@lru_cache(maxsize=_CACHE_SIZE)
def _tag_key(key: str) -> str:
    if not key:
        raise LineProtocolError("a tag key is empty")
    _check_backslashes("tag key", key, _AMBIGUOUS_TAG)
    _check_length("tag key", key)
    return key.translate(_KEY)


@lru_cache(maxsize=_CACHE_SIZE)
def _tag_value(value: str) -> str:
    _check_backslashes("tag value", value, _AMBIGUOUS_TAG)
    _check_length("tag value", value)
    return value.translate(_KEY)


@lru_cache(maxsize=_CACHE_SIZE)
def field_key(key: str) -> str:
    if not key:
        raise LineProtocolError("a field key is empty")
    _check_backslashes("field key", key, _AMBIGUOUS_FIELD_KEY)
    _check_length("field key", key)
    return key.translate(_KEY)


def _check_length(what: str, text: str) -> None:
    # Bounds the caches above in bytes: each holds at most _CACHE_SIZE such names.
    if len(text) > MAX_NAME_BYTES // 4 and len(text.encode()) > MAX_NAME_BYTES:
        raise LineProtocolError(f"{what} {text[:40]!r}... is longer than {MAX_NAME_BYTES} bytes")


def _check_backslashes(what: str, text: str, ambiguous: frozenset[str]) -> None:
    if "\\" not in text:
        return
    if text.endswith("\\"):
        raise LineProtocolError(f"{what} {text!r} ends with a backslash")
    for index, char in enumerate(text[:-1]):
        if char == "\\" and text[index + 1] in ambiguous:
            raise LineProtocolError(
                f"{what} {text!r} has a backslash before {text[index + 1]!r}, "
                "which line protocol would read as an escape"
            )
