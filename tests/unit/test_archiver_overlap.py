"""archiver/overlap.py: two batches written at once, acknowledged in order, none after a failure."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from archiver.overlap import write_overlapped


async def _batches(*items: int, then_wait: bool = False) -> AsyncIterator[int]:
    for item in items:
        yield item
    if then_wait:
        await asyncio.Event().wait()  # no more input, for ever


class _Writes:
    """Writes that take the given seconds per batch, noting what ran when."""

    def __init__(self, seconds: dict[int, float], failing: frozenset[int] = frozenset()) -> None:
        self.seconds, self.failing = seconds, failing
        self.running: set[int] = set()
        self.most_at_once = 0
        self.started: list[int] = []
        self.acknowledged: list[tuple[int, str]] = []

    async def write(self, batch: int) -> str:
        self.started.append(batch)
        self.running.add(batch)
        self.most_at_once = max(self.most_at_once, len(self.running))
        try:
            await asyncio.sleep(self.seconds.get(batch, 0.0))
            if batch in self.failing:
                raise RuntimeError(f"batch {batch} failed")
            return f"written {batch}"
        finally:
            self.running.discard(batch)

    async def acknowledge(self, batch: int, result: str) -> None:
        self.acknowledged.append((batch, result))


def test_batches_are_acknowledged_in_order_when_a_later_write_finishes_first() -> None:
    writes = _Writes({1: 0.05, 2: 0.0, 3: 0.0})
    asyncio.run(write_overlapped(_batches(1, 2, 3), writes.write, writes.acknowledge))
    assert writes.acknowledged == [(1, "written 1"), (2, "written 2"), (3, "written 3")]


def test_the_next_batch_is_written_while_the_one_before_is_but_never_more_than_two() -> None:
    writes = _Writes(dict.fromkeys(range(1, 7), 0.02))
    asyncio.run(write_overlapped(_batches(*range(1, 7)), writes.write, writes.acknowledge))
    assert writes.most_at_once == 2
    assert [batch for batch, _ in writes.acknowledged] == list(range(1, 7))


def test_one_at_a_time_when_asked() -> None:
    writes = _Writes(dict.fromkeys(range(1, 4), 0.01))
    asyncio.run(write_overlapped(_batches(1, 2, 3), writes.write, writes.acknowledge, 1))
    assert writes.most_at_once == 1
    assert len(writes.acknowledged) == 3


def test_a_failed_write_raises_at_once_though_no_batch_follows() -> None:
    writes = _Writes({1: 0.01}, failing=frozenset({1}))

    async def run() -> None:
        batches = _batches(1, then_wait=True)
        await asyncio.wait_for(write_overlapped(batches, writes.write, writes.acknowledge), 2.0)

    with pytest.raises(RuntimeError, match="batch 1 failed"):
        asyncio.run(run())
    assert writes.acknowledged == []


def test_nothing_after_a_failed_batch_is_acknowledged() -> None:
    writes = _Writes({1: 0.05, 2: 0.0}, failing=frozenset({1}))
    with pytest.raises(RuntimeError, match="batch 1 failed"):
        asyncio.run(write_overlapped(_batches(1, 2, 3), writes.write, writes.acknowledge))
    assert writes.acknowledged == []
    assert 2 in writes.started  # written meanwhile, then left unacknowledged


def test_the_batches_before_a_failure_are_acknowledged() -> None:
    writes = _Writes({1: 0.0, 2: 0.0, 3: 0.02}, failing=frozenset({3}))
    with pytest.raises(RuntimeError, match="batch 3 failed"):
        asyncio.run(write_overlapped(_batches(1, 2, 3), writes.write, writes.acknowledge))
    assert [batch for batch, _ in writes.acknowledged] == [1, 2]


def test_a_failure_cancels_the_writes_still_running() -> None:
    writes = _Writes({1: 0.01, 2: 10.0}, failing=frozenset({1}))

    async def run() -> None:
        with pytest.raises(RuntimeError):
            await asyncio.wait_for(
                write_overlapped(_batches(1, 2), writes.write, writes.acknowledge), 2
            )
        await asyncio.sleep(0)
        assert writes.running == set(), "batch 2's write was left running"

    asyncio.run(run())
    assert writes.acknowledged == []


def test_a_failure_stops_waiting_for_input() -> None:
    closed = asyncio.Event()
    writes = _Writes({1: 0.01}, failing=frozenset({1}))

    async def batches() -> AsyncIterator[int]:
        try:
            yield 1
            await asyncio.Event().wait()
        finally:
            closed.set()

    async def run() -> None:
        with pytest.raises(RuntimeError):
            await asyncio.wait_for(write_overlapped(batches(), writes.write, writes.acknowledge), 2)
        assert closed.is_set(), "the input was left waiting"

    asyncio.run(run())
