"""The by-engine framing: several input messages of one engine in one Kafka message.

`route-by-engine` sends an engine's input messages of a batch as one message,
keyed by the engine: their values byte for byte one after the other, and a
header saying where each came from and how long it is:

    enginewatch-origin: [["notify", 3, 1234, 181], ["notify", 3, 1236, 179]]

`derive` takes them apart again. A message without the header (an input read
directly, when the input is keyed by engine) is one input message: itself.
"""

from __future__ import annotations

from collections.abc import Sequence

import orjson

from agents.records import Input, Message
from enginewatch.core.points import Origin

ORIGIN_HEADER = "enginewatch-origin"
_ENTRY = "[topic, partition, offset, length] with non-negative integers"


class ByEngineFormatError(ValueError):
    """A message's by-engine framing cannot be taken apart; str(exc) says why."""


def encode(engine: str, entries: Sequence[tuple[Origin, bytes]]) -> Message:
    """One engine's input messages, in order, as one message keyed by the engine."""
    header = [[o.topic, o.partition, o.offset, len(value)] for o, value in entries]
    value = b"".join(value for _, value in entries)
    return engine.encode(), value, {ORIGIN_HEADER: orjson.dumps(header)}


def decode(record: Input) -> list[tuple[Origin, bytes | None]]:
    """The input messages a record holds, with their origins, or ByEngineFormatError."""
    value, headers = record.value, record.headers
    header = headers.get(ORIGIN_HEADER) if headers else None
    if header is None or value is None:
        return [(record.origin, value)]
    try:
        entries = orjson.loads(header)
    except orjson.JSONDecodeError as exc:
        raise ByEngineFormatError(f"header {ORIGIN_HEADER!r} is not JSON: {exc}") from None
    if type(entries) is not list or not entries:
        raise ByEngineFormatError(f"header {ORIGIN_HEADER!r} is not a non-empty list of {_ENTRY}")
    inputs: list[tuple[Origin, bytes | None]] = []
    start = 0
    for index, entry in enumerate(entries):
        try:
            topic, partition, offset, length = entry
        except (TypeError, ValueError):
            raise ByEngineFormatError(_bad_entry(index)) from None
        # orjson decodes JSON integers as int, never bool: exact type checks suffice.
        if (
            type(topic) is not str
            or type(partition) is not int
            or type(offset) is not int
            or type(length) is not int
            or min(partition, offset, length) < 0
        ):
            raise ByEngineFormatError(_bad_entry(index))
        end = start + length
        if end > len(value):
            raise ByEngineFormatError(
                f"header {ORIGIN_HEADER!r}: entry {index} passes the end of the "
                f"{len(value)}-byte value"
            )
        inputs.append((Origin(topic, partition, offset), value[start:end]))
        start = end
    if start != len(value):
        raise ByEngineFormatError(
            f"header {ORIGIN_HEADER!r} accounts for {start} of the value's {len(value)} bytes"
        )
    return inputs


def _bad_entry(index: int) -> str:
    return f"header {ORIGIN_HEADER!r}: entry {index} is not {_ENTRY}"
