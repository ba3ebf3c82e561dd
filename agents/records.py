"""The plain values the agents' stages take and give: no Faust in sight.

A stage takes a batch of `Input`s, Kafka records as they arrived, and returns
`Message`s to send on its output topic and `Reject`s for the dead letters.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from enginewatch.core.points import Origin


class Input(NamedTuple):
    """One record a stage consumes, and where it came from."""

    origin: Origin
    key: bytes | None
    value: bytes | None
    headers: Mapping[str, bytes] | None = None


# One message to send, whatever the topic: key, value, headers.
Message = tuple[bytes, bytes, dict[str, bytes] | None]


class Reject(NamedTuple):
    """One rejected input message: a dead letter to be."""

    origin: Origin
    reason: str
    value: bytes | None
