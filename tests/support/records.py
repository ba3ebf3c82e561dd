"""A Kafka record as the workers read one taken in bulk, for tests without a broker."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FakeRecord:
    """What aiokafka's ConsumerRecord gives the agents (bulk.FetchedRecord)."""

    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]] = ()
