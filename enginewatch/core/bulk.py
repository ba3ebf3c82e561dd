"""An agent's input delivered in bulk: fetched records handed over a fetch at a time.

Iterating a Faust stream costs a fixed amount per message (an Event, a queue,
the stream iterator, two tasks in the consumer's fetch loop), several times
what the agents' own code costs per message (docs/benchmarks.md). Here the
consumer hands each fetch of a partition over as one `Chunk` (the records as
aiokafka returns them, in offset order), and an agent takes `Batch`es of them.
How the consumer and the acknowledgements are wired to Faust is
enginewatch/core/faust_private.py; this module is the buffer between them,
with no Faust in it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol


class FetchedRecord(Protocol):
    """What the agents read of a Kafka record (aiokafka's `ConsumerRecord`)."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def timestamp(self) -> int: ...  # milliseconds since the epoch
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def headers(self) -> Sequence[tuple[str, bytes]]: ...


@dataclass(frozen=True, slots=True)
class Chunk:
    """Records of one partition, fetched together in one consumer generation, in
    offset order."""

    topic: str
    partition: int
    generation: int
    records: Sequence[FetchedRecord]

    @property
    def first(self) -> int:
        return self.records[0].offset

    @property
    def last(self) -> int:
        return self.records[-1].offset


@dataclass(slots=True)
class Batch:
    """What an agent takes at once: its records in the order taken, and the chunks
    they came in (for continuity checks and acknowledgements)."""

    chunks: list[Chunk]
    records: list[FetchedRecord] = field(init=False)
    # What the consumer tracks the batch by until it is acknowledged.
    token: object = None

    def __post_init__(self) -> None:
        self.records = [record for chunk in self.chunks for record in chunk.records]

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[FetchedRecord]:
        return iter(self.records)

    def __getitem__(self, index: int) -> FetchedRecord:
        return self.records[index]


# The partitions stopped for a full buffer fetch again once it is down to this share.
LOW_WATER = 0.5


class ChunkBuffer:
    """Chunks fetched and not yet taken, about `capacity` records at most.

    The consumer `put`s each fetch's chunks; an agent `take`s batches. A chunk
    that fills the buffer stops its partition's fetches (`stop(partitions)`),
    and they go on (`go_on(partitions)`) once it is half empty: the backpressure
    a stream's queue gives, without holding up the fetches of other topics.
    `clear` empties it, as Faust clears its streams' queues when partitions are
    revoked; chunks of an earlier consumer generation are dropped when taken, as
    Faust's streams skip such events. A dropped record was never handed to an
    agent: its partition is read again from its last commit.
    """

    def __init__(
        self,
        capacity: int,
        stop: Callable[[set[tuple[str, int]]], None] = lambda partitions: None,
        go_on: Callable[[set[tuple[str, int]]], None] = lambda partitions: None,
    ) -> None:
        self.capacity = capacity
        # Whether an agent takes from it (one may: each record goes to one taker).
        self.taken = False
        self._stop, self._go_on = stop, go_on
        self._stopped: set[tuple[str, int]] = set()
        # Each chunk with when it arrived (monotonic).
        self._chunks: deque[tuple[float, Chunk]] = deque()
        self._size = 0
        self._arrived = asyncio.Event()

    def __len__(self) -> int:
        return self._size

    @property
    def stopped(self) -> bool:
        """Whether partitions are stopped for this buffer."""
        return bool(self._stopped)

    def put(self, chunk: Chunk) -> None:
        """Add a chunk (a fetch is never split)."""
        self._chunks.append((time.monotonic(), chunk))
        self._size += len(chunk.records)
        self._arrived.set()
        if self._size >= self.capacity:
            partition = (chunk.topic, chunk.partition)
            if partition not in self._stopped:
                self._stopped.add(partition)
                self._stop({partition})

    def clear(self) -> None:
        self._chunks.clear()
        self._size = 0
        self._release()

    async def take(self, max_records: int, within: float, generation: Callable[[], int]) -> Batch:
        """The next batch: what arrived within `within` seconds of its first record
        (which may have arrived before the call), at most `max_records` (a chunk is
        split to keep to that). Chunks of a generation other than `generation()`
        are dropped."""
        while True:
            self._drop_stale(generation())
            if self._size >= max_records:
                break
            seconds: float | None = None
            if self._chunks:
                seconds = self._chunks[0][0] + within - time.monotonic()
                if seconds <= 0:
                    break
            self._arrived.clear()
            await _wait(self._arrived, seconds)
        return Batch(self._pop(max_records))

    def _drop_stale(self, generation: int) -> None:
        if any(chunk.generation != generation for _, chunk in self._chunks):
            kept = [(at, chunk) for at, chunk in self._chunks if chunk.generation == generation]
            self._chunks = deque(kept)
            self._size = sum(len(chunk.records) for _, chunk in kept)
            self._release()

    def _pop(self, max_records: int) -> list[Chunk]:
        taken: list[Chunk] = []
        wanted = max_records
        while self._chunks and wanted > 0:
            arrived, chunk = self._chunks.popleft()
            if len(chunk.records) > wanted:
                head, rest = chunk.records[:wanted], chunk.records[wanted:]
                rest_chunk = Chunk(chunk.topic, chunk.partition, chunk.generation, rest)
                self._chunks.appendleft((arrived, rest_chunk))
                chunk = Chunk(chunk.topic, chunk.partition, chunk.generation, head)
            taken.append(chunk)
            wanted -= len(chunk.records)
        self._size -= max_records - wanted
        self._release()
        return taken

    def _release(self) -> None:
        """Let the stopped partitions fetch again once the buffer is low enough."""
        if self._stopped and self._size <= self.capacity * LOW_WATER:
            stopped, self._stopped = self._stopped, set()
            self._go_on(stopped)


async def _wait(event: asyncio.Event, seconds: float | None) -> None:
    """Wait until `event` is set, or at most `seconds` (None: as long as it takes)."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()
