"""The broker side of the measurements: topics, backlogs, and reading results from outside.

A worker's output is timed by the records' own timestamps (CreateTime, set by
the worker's producer when it sends), so the reading happens after the run and
costs the measured process nothing. A worker that produces nothing is timed by
its consumer group's committed offsets.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from benchmarks.rates import Sample

BOOTSTRAP = "127.0.0.1:9092"
BROKER_URL = f"kafka://{BOOTSTRAP}"


async def create_topic(name: str, partitions: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
    finally:
        await admin.close()


async def produce(
    topic: str, values: Sequence[bytes], keys: Sequence[bytes | None] | None = None
) -> None:
    """Send every value (keyed, so each engine stays in one partition) and wait for the acks."""
    producer = AIOKafkaProducer(
        bootstrap_servers=BOOTSTRAP, linger_ms=20, max_batch_size=256 * 1024, acks=1
    )
    await producer.start()
    try:
        pending = []
        for index, value in enumerate(values):
            key = None if keys is None else keys[index]
            pending.append(await producer.send(topic, value, key=key))
            if len(pending) >= 10_000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


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
    consumer = AIOKafkaConsumer(
        bootstrap_servers=BOOTSTRAP,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=8 * 1024 * 1024,
    )
    await consumer.start()
    arrived: list[tuple[float, int]] = []
    total = 0
    try:
        partitions = await _partitions(consumer, topic, give_up_after)
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        deadline = time.monotonic() + give_up_after
        while total < expected and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500, max_records=50_000)
            for records in batch.values():
                for record in records:
                    units = weight(record.value)
                    arrived.append((record.timestamp / 1000, units))
                    total += units
    finally:
        await consumer.stop()
    arrived.sort()
    samples, done = [], 0
    for stamp, units in arrived:
        done += units
        samples.append(Sample(stamp, done))
    return samples


async def latest_values(
    topic: str, give_up_after: float = 30.0
) -> dict[bytes | None, bytes | None]:
    """The last value of every key in the topic (what a compacted changelog keeps)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=BOOTSTRAP, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    latest: dict[bytes | None, bytes | None] = {}
    try:
        partitions = await _partitions(consumer, topic, give_up_after)
        ends = await consumer.end_offsets(partitions)
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        deadline = time.monotonic() + give_up_after
        while time.monotonic() < deadline and await _behind(consumer, ends):
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for record in records:
                    latest[record.key] = record.value
    finally:
        await consumer.stop()
    return latest


async def committed_progress(
    group: str, topic: str, expected: int, give_up_after: float, interval: float = 0.05
) -> list[Sample]:
    """Poll a consumer group's committed offsets on a topic until they reach `expected`."""
    admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    await admin.start()
    samples: list[Sample] = []
    try:
        deadline = time.monotonic() + give_up_after
        while time.monotonic() < deadline:
            offsets = await admin.list_consumer_group_offsets(group)
            done = sum(meta.offset for tp, meta in offsets.items() if tp.topic == topic)
            samples.append(Sample(time.time(), done))
            if done >= expected:
                break
            await asyncio.sleep(interval)
    finally:
        await admin.close()
    return samples


async def raw_consume_rate(topic: str, expected: int, give_up_after: float = 60.0) -> float:
    """Messages per second aiokafka delivers and orjson parses, in this process."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=BOOTSTRAP,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=8 * 1024 * 1024,
        fetch_max_bytes=64 * 1024 * 1024,
    )
    await consumer.start()
    try:
        partitions = await _partitions(consumer, topic)
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


async def _behind(consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> bool:
    for tp, end in ends.items():
        if await consumer.position(tp) < end:
            return True
    return False


async def _partitions(
    consumer: AIOKafkaConsumer, topic: str, give_up_after: float = 10.0
) -> list[TopicPartition]:
    deadline = time.monotonic() + give_up_after
    while time.monotonic() < deadline:
        found = consumer.partitions_for_topic(topic)
        if found:
            return [TopicPartition(topic, p) for p in sorted(found)]
        await consumer._client.force_metadata_update()
        await asyncio.sleep(0.1)
    raise RuntimeError(f"topic {topic} has no partitions")
