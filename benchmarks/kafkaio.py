"""The broker side of the measurements: backlogs fed, and results read from outside.

A worker's output is timed by the records' own timestamps (CreateTime, set by
the worker's producer when it sends), so the reading happens after the run and
costs the measured process nothing. A worker that produces nothing is timed by
its consumer group's committed offsets.

Topics, produce and read-back are enginewatch.harness.kafka's; these are
coroutines, as the measurement steps await them, and run the harness's
synchronous calls in a thread of their own.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from benchmarks.rates import Sample
from enginewatch.harness import kafka


async def produce(
    topic: str, values: Sequence[bytes], keys: Sequence[bytes | None] | None = None
) -> None:
    """Send every value (keyed, so each engine stays in one partition) and wait for the acks."""
    await asyncio.to_thread(kafka.produce, topic, values, keys)


def archive_points(value: bytes | None) -> int:
    """How many points an archive message holds."""
    return len(orjson.loads(value or b"{}").get("points", ()))


def one(value: bytes | None) -> int:
    return 1


async def collect_output(
    topic: str, expected: float, weight: Callable[[bytes | None], int], give_up_after: float
) -> list[Sample]:
    """Read the topic as it fills until `expected` units arrived (or time is up).

    Returns cumulative (CreateTime, units) samples in time order: when the
    worker sent each record, not when it was read here, so reading late or in
    bulk does not change the figure.
    """
    records = await asyncio.to_thread(
        kafka.consume, topic, expected, give_up_after, units=lambda r: weight(r.value)
    )
    arrived = sorted((record.timestamp / 1000, weight(record.value)) for record in records)
    samples, done = [], 0
    for stamp, units in arrived:
        done += units
        samples.append(Sample(stamp, done))
    return samples


async def latest_values(
    topic: str, give_up_after: float = 30.0
) -> dict[bytes | None, bytes | None]:
    """The last value of every key in the topic (what a compacted changelog keeps)."""
    records = await asyncio.to_thread(kafka.read_all, topic, give_up_after)
    return {record.key: record.value for record in records}


async def committed_progress(
    group: str, topic: str, expected: int, give_up_after: float, interval: float = 0.05
) -> list[Sample]:
    """Poll a consumer group's committed offsets on a topic until they reach `expected`."""
    samples: list[Sample] = []
    deadline = time.monotonic() + give_up_after
    while time.monotonic() < deadline:
        done = await asyncio.to_thread(kafka.committed, group, topic)
        samples.append(Sample(time.time(), done))
        if done >= expected:
            break
        await asyncio.sleep(interval)
    return samples


async def raw_consume_rate(topic: str, expected: int, give_up_after: float = 60.0) -> float:
    """Messages per second aiokafka delivers and orjson parses, in this process."""
    found = await asyncio.to_thread(kafka.wait_for_topic, topic)
    partitions = [TopicPartition(topic, p) for p in found]
    consumer = AIOKafkaConsumer(
        bootstrap_servers=kafka.LOCAL_BOOTSTRAP,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=8 * 1024 * 1024,
        fetch_max_bytes=64 * 1024 * 1024,
    )
    await consumer.start()
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        loads = orjson.loads
        count = 0
        started: float | None = None
        deadline = time.monotonic() + give_up_after
        while count < expected and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500, max_records=10_000)
            if started is None:
                # Timed from the first delivery: connecting is not consuming.
                if not batch:
                    continue
                started = time.perf_counter()
            for records in batch.values():
                for record in records:
                    loads(record.value)
                count += len(records)
        elapsed = time.perf_counter() - (started or time.perf_counter())
    finally:
        await consumer.stop()
    return count / elapsed if elapsed > 0 else 0.0
