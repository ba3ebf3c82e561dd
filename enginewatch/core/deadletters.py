"""Dead letters: one JSON message per rejected input, saying why and from where."""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

import orjson

from enginewatch.core.points import Origin

# A dead letter must always fit under the producer's 1 000 000-byte limit, or
# the broker refuses it and the input it speaks for is stuck. A value up to
# MAX_WHOLE_VALUE_BYTES is kept whole; a larger one keeps its first
# TRUNCATED_PREFIX_BYTES, with its length and SHA-256. Escaping in JSON grows a
# text value at most six-fold (a control character becomes \u00XX), base64 by a
# third, so either bound keeps the message far below the limit.
MAX_WHOLE_VALUE_BYTES = 128 * 1024
TRUNCATED_PREFIX_BYTES = 16 * 1024
# Reasons may quote input (a type name, a tap name): bounded the same way.
MAX_ERROR_CHARS = 2000
# A reason's kind is a tag value: a quoted part of the input, or a number, would
# give each input a series of its own.
_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")
_NUMBER = re.compile(r"\b\d+(?:\.\d+)?\b")
MAX_KIND_CHARS = 80


def dead_letter(error: str, origin: Origin, value: bytes | None, stage: str) -> bytes:
    """Build the dead-letter message for a rejected input.

    The original value is kept: as text when it is UTF-8, else base64, with
    `value_encoding` saying which. A value too large to travel whole keeps its
    first bytes, with `truncated: true`, `value_length` (bytes) and
    `value_sha256` (hex) of the whole value, so it can still be recognised.
    """
    if len(error) > MAX_ERROR_CHARS:
        error = error[:MAX_ERROR_CHARS] + "..."
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
        return orjson.dumps(message)
    kept = value
    if len(value) > MAX_WHOLE_VALUE_BYTES:
        kept = value[:TRUNCATED_PREFIX_BYTES]
        message["truncated"] = True
        message["value_length"] = len(value)
        message["value_sha256"] = hashlib.sha256(value).hexdigest()
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        message["value"] = base64.b64encode(kept).decode("ascii")
        message["value_encoding"] = "base64"
    else:
        # A cut may split the last character of a UTF-8 value: drop that part.
        message["value"] = kept.decode("utf-8", errors="ignore")
        message["value_encoding"] = "utf-8"
    return orjson.dumps(message)


def reason_kind(error: str) -> str:
    """What kind of rejection `error` is, for counting by reason: quoted parts and
    numbers blanked, cut after the first `: `-part of three words or more, or the
    second part ("tap '*' amount is negative", "field '*': no such date")."""
    blanked = _NUMBER.sub("N", _QUOTED.sub("'*'", error))
    kept: list[str] = []
    for part in blanked.split(": ")[:2]:
        kept.append(" ".join(part.split()))
        if len(kept[-1].split()) >= 3:
            break
    kind = ": ".join(p for p in kept if p)
    # A tag value: a trailing backslash would escape line protocol's separator.
    return kind[:MAX_KIND_CHARS].rstrip("\\") or "unknown"


def original_value(message: dict[str, Any]) -> bytes | None:
    """The rejected input's bytes (their kept prefix when `truncated`), from a dead letter."""
    value = message.get("value")
    if value is None:
        return None
    if message.get("value_encoding") == "base64":
        return base64.b64decode(value)
    return str(value).encode("utf-8")
