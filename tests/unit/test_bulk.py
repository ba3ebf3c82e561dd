"""The buffer between the consumer and the agents reading in bulk: enginewatch/core/bulk.py.

No Faust here: chunks of stand-in records are put and batches taken in one event
loop. The waits are kept to a few tens of milliseconds: `within` is what a test
passes, not the agents' own setting.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from enginewatch.core.bulk import LOW_WATER, Batch, Chunk, ChunkBuffer
from tests.support.records import FakeRecord

TOPIC = "input"
# Long enough that a take which waited for it would miss the tests' time limits.
LONG = 5.0
# How long a test lets a take run that should not return.
BRIEF = 0.03


def _chunk(*offsets: int, partition: int = 0, generation: int = 1, topic: str = TOPIC) -> Chunk:
    records = [
        FakeRecord(topic, partition, offset, 1_700_000_000_000 + offset, b"k", b"v%d" % offset)
        for offset in offsets
    ]
    return Chunk(topic, partition, generation, records)


async def _take(buffer: ChunkBuffer, max_records: int, within: float, generation: int) -> Batch:
    """`buffer.take`, failing the test instead of hanging when no batch comes."""
    return await asyncio.wait_for(buffer.take(max_records, within, _current(generation)), 0.5)


def _offsets(batch: Batch) -> list[int]:
    return [record.offset for record in batch]


def _current(generation: int) -> Callable[[], int]:
    """The consumer's generation, as `take` asks for it."""
    return lambda: generation


def test_a_full_batch_is_taken_at_once() -> None:
    """With max_records already buffered there is nothing to wait for: `within` is
    not waited (the take would time out if it were)."""

    async def run() -> tuple[list[int], int, float]:
        buffer = ChunkBuffer(100)
        buffer.put(_chunk(0, 1, 2))
        buffer.put(_chunk(3, 4))
        started = time.monotonic()
        batch = await _take(buffer, 5, LONG, 1)
        return _offsets(batch), len(buffer), time.monotonic() - started

    offsets, left, seconds = asyncio.run(run())
    assert offsets == [0, 1, 2, 3, 4]
    assert left == 0
    assert seconds < LONG / 10


def test_reaching_max_records_ends_the_wait() -> None:
    """A take that waits for more returns as soon as max_records are there, not at
    the end of `within`."""

    async def run() -> tuple[list[int], bool]:
        buffer = ChunkBuffer(100)
        take = asyncio.ensure_future(buffer.take(4, LONG, _current(1)))
        buffer.put(_chunk(0, 1))
        await asyncio.sleep(0.01)
        waited = not take.done()
        buffer.put(_chunk(2, 3))
        batch = await asyncio.wait_for(take, 0.5)
        return _offsets(batch), waited

    offsets, waited = asyncio.run(run())
    assert waited, "two records of four: the take waits for more"
    assert offsets == [0, 1, 2, 3]


def test_what_arrives_within_the_wait_joins_the_batch() -> None:
    """Once a record is there, the take waits `within` from its arrival and takes
    what came meanwhile; what comes later is the next batch's."""
    within = 0.05

    async def run() -> tuple[bool, list[list[int]], float, list[int]]:
        buffer = ChunkBuffer(100)
        take = asyncio.ensure_future(buffer.take(10, within, _current(1)))
        await asyncio.sleep(within + 0.01)
        idle = not take.done()  # nothing arrived: it waits on, whatever `within`
        arrived = time.monotonic()
        buffer.put(_chunk(0, 1, 2))
        await asyncio.sleep(within / 5)
        buffer.put(_chunk(3, 4, partition=1))
        batch = await asyncio.wait_for(take, 0.5)
        waited = time.monotonic() - arrived
        buffer.put(_chunk(5))
        later = await _take(buffer, 1, LONG, 1)
        return idle, [_offsets(Batch([c])) for c in batch.chunks], waited, _offsets(later)

    idle, chunks, waited, later = asyncio.run(run())
    assert idle, "an empty buffer is waited on until a record comes"
    assert chunks == [[0, 1, 2], [3, 4]]
    assert waited >= within * 0.9, "the batch was taken before `within` passed"
    assert later == [5]


def test_within_counts_from_the_first_records_arrival_even_before_the_take() -> None:
    """The wait is `within` from the arrival of the first record buffered, which may
    be before the take; the rest of a split chunk arrived with its chunk. Past
    that, the take returns at once with what is there, a record just come too."""
    within = 0.1

    async def run() -> tuple[list[int], list[int]]:
        buffer = ChunkBuffer(100)
        buffer.put(_chunk(0, 1, 2, 3, 4))
        await asyncio.sleep(within * 0.7)
        head = await _take(buffer, 2, LONG, 1)
        await asyncio.sleep(within * 0.7)
        buffer.put(_chunk(5, partition=1))
        # No new wait: a take that waited at all (from the split or from the last
        # arrival) would run out of this time.
        rest = await asyncio.wait_for(buffer.take(10, within, _current(1)), within / 5)
        return _offsets(head), _offsets(rest)

    head, rest = asyncio.run(run())
    assert head == [0, 1]
    assert rest == [2, 3, 4, 5]


def test_a_chunk_past_max_records_is_split_and_its_rest_stays_first() -> None:
    async def run() -> tuple[list[Batch], int]:
        buffer = ChunkBuffer(100)
        buffer.put(_chunk(10, 11, 12, generation=7))
        buffer.put(_chunk(20, 21, 22, 23, 24, 25, 26, partition=3, generation=7))
        buffer.put(_chunk(30, partition=1, generation=7))
        batches = [await _take(buffer, 4, LONG, 7)]
        left = len(buffer)
        batches.append(await _take(buffer, 4, LONG, 7))
        batches.append(await _take(buffer, 4, 0.01, 7))
        return batches, left

    batches, left = asyncio.run(run())
    assert [_offsets(batch) for batch in batches] == [
        [10, 11, 12, 20],
        [21, 22, 23, 24],
        [25, 26, 30],
    ]
    assert left == 11 - 4
    # Each piece keeps its partition and generation, and the pieces of one chunk
    # follow each other: a continuity check sees the partition's offsets in order.
    described = [
        [(c.topic, c.partition, c.generation, c.first, c.last) for c in batch.chunks]
        for batch in batches
    ]
    assert described == [
        [(TOPIC, 0, 7, 10, 12), (TOPIC, 3, 7, 20, 20)],
        [(TOPIC, 3, 7, 21, 24)],
        [(TOPIC, 3, 7, 25, 26), (TOPIC, 1, 7, 30, 30)],
    ]


def test_chunks_of_another_generation_are_dropped_when_taken() -> None:
    async def run() -> tuple[list[int], list[int], int, bool]:
        buffer = ChunkBuffer(100)
        buffer.put(_chunk(0, 1, generation=1))
        buffer.put(_chunk(5, 6, 7, generation=2))
        buffer.put(_chunk(2, generation=1))
        batch = await _take(buffer, 10, 0.01, 2)
        seen = [chunk.generation for chunk in batch.chunks]
        # Only stale chunks left: nothing is handed out, the take waits on.
        buffer.put(_chunk(8, generation=2))
        take = asyncio.ensure_future(buffer.take(10, 0.01, _current(3)))
        await asyncio.sleep(BRIEF)
        waiting = not take.done()
        take.cancel()
        return _offsets(batch), seen, len(buffer), waiting

    offsets, generations, left, waiting = asyncio.run(run())
    assert offsets == [5, 6, 7]
    assert generations == [2]
    assert left == 0, "the stale chunks no longer count"
    assert waiting


def _stops() -> tuple[ChunkBuffer, list[set[tuple[str, int]]], list[set[tuple[str, int]]]]:
    stopped: list[set[tuple[str, int]]] = []
    resumed: list[set[tuple[str, int]]] = []
    return ChunkBuffer(10, stopped.append, resumed.append), stopped, resumed


def test_a_chunk_that_fills_the_buffer_stops_its_partition_once() -> None:
    buffer, stopped, resumed = _stops()
    buffer.put(_chunk(*range(6), partition=0))
    assert stopped == [], "below capacity"
    buffer.put(_chunk(*range(4), partition=1))  # 10 of 10
    buffer.put(_chunk(6, 7, partition=0))
    buffer.put(_chunk(4, partition=1))  # already stopped
    assert stopped == [{(TOPIC, 1)}, {(TOPIC, 0)}]
    assert resumed == []


def test_stopped_partitions_go_on_once_the_buffer_is_down_to_its_low_water() -> None:
    """go_on is called once, with every partition stopped, when the size falls to
    capacity * LOW_WATER or below; a partition filling it again stops again."""
    buffer, stopped, resumed = _stops()
    low = int(buffer.capacity * LOW_WATER)

    async def run() -> list[list[set[tuple[str, int]]]]:
        buffer.put(_chunk(*range(8), partition=0))
        buffer.put(_chunk(*range(4), partition=1))
        buffer.put(_chunk(*range(2), partition=2, topic="other"))  # 14 of 10
        seen = [list(resumed)]
        await _take(buffer, len(buffer) - low - 1, LONG, 1)
        seen.append(list(resumed))  # one above the low water: still stopped
        await _take(buffer, 1, LONG, 1)
        seen.append(list(resumed))
        await _take(buffer, 1, LONG, 1)
        seen.append(list(resumed))  # released already: not again
        buffer.put(_chunk(*range(buffer.capacity), partition=1))
        return seen

    seen = asyncio.run(run())
    # The first chunk over capacity stopped partition 1, the next one ("other", 2);
    # partition 0 never filled it.
    filled = [{(TOPIC, 1)}, {("other", 2)}]
    released = filled[0] | filled[1]
    assert seen == [[], [], [released], [released]]
    assert stopped == [*filled, {(TOPIC, 1)}], "released, a partition is stopped again"


def test_clearing_empties_the_buffer_and_lets_the_stopped_partitions_go_on() -> None:
    buffer, stopped, resumed = _stops()
    buffer.clear()
    assert resumed == [], "nothing was stopped"

    async def run() -> bool:
        buffer.put(_chunk(*range(12), partition=4))
        buffer.clear()
        take = asyncio.ensure_future(buffer.take(1, 0.01, _current(1)))
        await asyncio.sleep(BRIEF)
        waiting = not take.done()
        take.cancel()
        return waiting

    assert asyncio.run(run()), "nothing is left to take"
    assert len(buffer) == 0
    assert stopped == [{(TOPIC, 4)}]
    assert resumed == [{(TOPIC, 4)}]


def test_dropping_stale_chunks_lets_the_stopped_partitions_go_on() -> None:
    buffer, stopped, resumed = _stops()

    async def run() -> None:
        buffer.put(_chunk(0, partition=1, generation=2))
        buffer.put(_chunk(*range(9), generation=1))  # 10 of 10
        await _take(buffer, 1, LONG, 2)

    asyncio.run(run())
    assert stopped == [{(TOPIC, 0)}]
    assert resumed == [{(TOPIC, 0)}]


def test_a_batch_is_its_chunks_records_in_order() -> None:
    first, second = _chunk(3, 4, partition=1), _chunk(9, partition=0)
    batch = Batch([first, second])
    assert batch.records == [*first.records, *second.records]
    assert len(batch) == 3
    assert list(batch) == batch.records
    assert [batch[i] for i in range(len(batch))] == batch.records
    assert batch[-1].offset == 9
    assert batch.token is None
    with pytest.raises(IndexError):
        batch[3]
    assert (first.first, first.last) == (3, 4)
    assert len(Batch([])) == 0
