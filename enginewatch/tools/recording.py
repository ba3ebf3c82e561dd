"""Recordings: JSON Lines files holding one message value per line, byte for byte.

A line is the value exactly as it was on the topic, so a recording may hold
invalid lines too (not JSON, not UTF-8): they replay as they were recorded.
Only two kinds of value cannot be held by a line: a null value (a tombstone)
and a value containing a line feed; `unrecordable()` says which.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any, BinaryIO

import orjson

NEWLINE = b"\n"


def unrecordable(value: bytes | None) -> str | None:
    """Why a value cannot be one line of a recording, or None when it can."""
    if value is None:
        return "null value (tombstone): a line cannot tell it from an empty value"
    if NEWLINE in value:
        return "value contains a line feed: a recording holds one value per line"
    return None


def read_values(stream: BinaryIO) -> Iterator[bytes]:
    """The values of a recording, in order: each line without its line feed.

    A last line without a line feed is a value too; nothing else is altered
    (a carriage return before the line feed stays part of the value).
    """
    for line in stream:
        yield line[:-1] if line.endswith(NEWLINE) else line


def parse_object(value: bytes) -> dict[str, Any] | None:
    """The value as a JSON object, or None when it is not one."""
    try:
        parsed = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    return parsed if isinstance(parsed, dict) else None


def src_key(message: dict[str, Any] | None) -> bytes | None:
    """The Kafka key for `--key src`: the message's `src` in UTF-8, else null."""
    if message is None:
        return None
    src = message.get("src")
    return src.encode("utf-8") if isinstance(src, str) else None


def message_time(message: dict[str, Any] | None) -> float | None:
    """The message's `timestamp` in seconds since the epoch, when it has a usable one.

    A timestamp without a UTC offset says nothing about when it happened, so
    it counts as none.
    """
    if message is None:
        return None
    stamp = message.get("timestamp")
    if not isinstance(stamp, str):
        return None
    try:
        parsed = datetime.fromisoformat(stamp)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return None
    return parsed.timestamp()
