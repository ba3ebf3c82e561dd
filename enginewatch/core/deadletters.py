"""Dead letters: one JSON message per rejected input, saying why and from where."""

from __future__ import annotations

import base64
from typing import Any

import orjson

from enginewatch.core.points import Origin


def dead_letter(error: str, origin: Origin, value: bytes | None, stage: str) -> bytes:
    """Build the dead-letter message for a rejected input.

    The original value is kept whole: as text when it is UTF-8, else base64,
    with `value_encoding` saying which, so nothing is lost.
    """
    message: dict[str, Any] = {
        "error": error,
        "stage": stage,
        "topic": origin.topic,
        "partition": origin.partition,
        "offset": origin.offset,
    }
    if value is None:
        message["value"] = None
        message["value_encoding"] = "none"
    else:
        try:
            message["value"] = value.decode("utf-8")
            message["value_encoding"] = "utf-8"
        except UnicodeDecodeError:
            message["value"] = base64.b64encode(value).decode("ascii")
            message["value_encoding"] = "base64"
    return orjson.dumps(message)


def original_value(message: dict[str, Any]) -> bytes | None:
    """The rejected input's bytes, back from a parsed dead-letter message."""
    value = message.get("value")
    if value is None:
        return None
    if message.get("value_encoding") == "base64":
        return base64.b64decode(value)
    return str(value).encode("utf-8")
