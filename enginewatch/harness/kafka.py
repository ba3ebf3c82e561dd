"""Kafka as the demo, the tests and the benchmarks prepare and read it: topics created
and deleted, values produced, a topic read back, a consumer group's committed offsets.

Synchronous, each call with a client of its own. Creating, describing, sizing and
deleting topics are enginewatch.core.kafka's; reading here never joins a consumer
group, so it never disturbs the workers under test or measurement. Every call
takes the broker's `security` (enginewatch/core/kafkasecurity.py; plain text
by default, as `make up`'s broker speaks).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from enginewatch.core import kafka as core
from enginewatch.core.kafkasecurity import PLAINTEXT, KafkaSecurity

LOCAL_BOOTSTRAP = "127.0.0.1:9092"  # the broker of `make up`
LOCAL_BROKER = f"kafka://{LOCAL_BOOTSTRAP}"  # the same, as ENGINEWATCH_BROKER names it
# Produced values awaited in bulk: the producer's batches stay full.
PENDING = 10_000


@dataclass(frozen=True)
class Record:
    key: bytes | None
    value: bytes | None
    partition: int
    offset: int
    timestamp: int  # CreateTime, epoch ms: when the producer sent it


def create_topic(
    name: str,
    partitions: int = 1,
    *,
    bootstrap: str = LOCAL_BOOTSTRAP,
    security: KafkaSecurity = PLAINTEXT,
) -> int:
    """Create the topic unless it exists; its partition count."""
    count, _ = asyncio.run(core.ensure_topic(bootstrap, name, partitions, security=security))
    return count


def delete_topics(
    prefix: str, *, bootstrap: str = LOCAL_BOOTSTRAP, security: KafkaSecurity = PLAINTEXT
) -> list[str]:
    """Delete every topic whose name starts with `prefix`; their names."""
    return asyncio.run(core.delete_topics(bootstrap, prefix, security=security))


def partitions(
    name: str, *, bootstrap: str = LOCAL_BOOTSTRAP, security: KafkaSecurity = PLAINTEXT
) -> list[int] | None:
    """The topic's partition numbers, None when it does not exist."""
    return asyncio.run(core.topic_partitions(bootstrap, name, security=security))


def wait_for_topic(
    name: str,
    timeout: float = 10.0,
    *,
    bootstrap: str = LOCAL_BOOTSTRAP,
    security: KafkaSecurity = PLAINTEXT,
) -> list[int]:
    """The topic's partition numbers, once the broker's metadata has some."""
    return asyncio.run(_wait_for_topic(bootstrap, security, name, time.monotonic() + timeout))


def size(
    name: str, *, bootstrap: str = LOCAL_BOOTSTRAP, security: KafkaSecurity = PLAINTEXT
) -> int:
    """The messages the topic holds now (0 when it does not exist)."""
    return asyncio.run(core.topic_size(bootstrap, name, security=security))


def produce(
    topic: str,
    values: Iterable[bytes | None],
    keys: Sequence[bytes | None] | None = None,
    partition: int | None = None,
    *,
    bootstrap: str = LOCAL_BOOTSTRAP,
    security: KafkaSecurity = PLAINTEXT,
) -> None:
    """Send every value, the i-th with the i-th key (or to `partition`), and wait until
    the broker took them all; the first failure raises.

    Batched for speed (large batches, one acknowledgement), unlike the tools'
    `Sender`, which checks and reports each message of a replay.
    """
    asyncio.run(_produce(bootstrap, security, topic, values, keys, partition))


def consume(
    topic: str,
    count: float,
    timeout: float = 60.0,
    settle: float = 0.0,
    units: Callable[[Record], int] | None = None,
    *,
    bootstrap: str = LOCAL_BOOTSTRAP,
    security: KafkaSecurity = PLAINTEXT,
) -> list[Record]:
    """Read every partition of the topic from its beginning until `count` records arrived
    or the time is up, also when the topic is created meanwhile.

    With `settle` > 0, go on reading that long after `count` is reached, to see
    records that should not be there too. With `units`, `count` counts what it
    says each record holds (e.g. the points of an archive message), not records.
    """
    deadline = time.monotonic() + timeout
    return asyncio.run(_consume(bootstrap, security, topic, count, deadline, settle, units))


def read_all(
    name: str,
    timeout: float = 30.0,
    *,
    bootstrap: str = LOCAL_BOOTSTRAP,
    security: KafkaSecurity = PLAINTEXT,
) -> list[Record]:
    """Every record the topic holds now, partition by partition, in order."""
    return asyncio.run(_read_all(bootstrap, security, name, time.monotonic() + timeout))


def committed(
    group: str,
    topic: str,
    *,
    bootstrap: str = LOCAL_BOOTSTRAP,
    security: KafkaSecurity = PLAINTEXT,
) -> int:
    """The sum of the group's committed offsets on the topic's partitions."""
    return asyncio.run(_committed(bootstrap, security, group, topic))


def _consumer(bootstrap: str, security: KafkaSecurity) -> AIOKafkaConsumer:
    return core.consumer_client(
        bootstrap,
        security,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        metadata_max_age_ms=1000,  # notice a topic created after the start soon
        max_partition_fetch_bytes=8 * 1024 * 1024,
    )


def _records(batch: Mapping[Any, Iterable[Any]]) -> list[Record]:
    """A `getmany` answer's records, partition by partition."""
    return [
        Record(m.key, m.value, m.partition, m.offset, m.timestamp)
        for messages in batch.values()
        for m in messages
    ]


async def _wait_for_topic(
    bootstrap: str, security: KafkaSecurity, name: str, deadline: float
) -> list[int]:
    while not (found := await core.topic_partitions(bootstrap, name, security=security)):
        if time.monotonic() > deadline:
            raise core.ToolError(f"topic {name!r} has no partitions yet")
        await asyncio.sleep(0.1)
    return found


async def _produce(
    bootstrap: str,
    security: KafkaSecurity,
    topic: str,
    values: Iterable[bytes | None],
    keys: Sequence[bytes | None] | None,
    partition: int | None,
) -> None:
    producer = core.producer_client(bootstrap, security, linger_ms=20, max_batch_size=256 * 1024)
    await producer.start()
    try:
        pending = []
        for index, value in enumerate(values):
            key = None if keys is None else keys[index]
            pending.append(await producer.send(topic, value, key=key, partition=partition))
            if len(pending) >= PENDING:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


async def _consume(
    bootstrap: str,
    security: KafkaSecurity,
    topic: str,
    count: float,
    deadline: float,
    settle: float,
    units: Callable[[Record], int] | None,
) -> list[Record]:
    consumer = _consumer(bootstrap, security)
    await consumer.start()
    records: list[Record] = []
    try:
        # Without a group id, aiokafka assigns every partition of the topic,
        # also when the topic is created after the consumer started.
        consumer.subscribe([topic])
        settle_until: float | None = None
        done = 0
        while time.monotonic() < deadline:
            if done >= count and settle_until is None:
                settle_until = time.monotonic() + settle
            if settle_until is not None and time.monotonic() >= settle_until:
                break
            for record in _records(await consumer.getmany(timeout_ms=200)):
                records.append(record)
                done += 1 if units is None else units(record)
    finally:
        await consumer.stop()
    return records


async def _read_all(
    bootstrap: str, security: KafkaSecurity, name: str, deadline: float
) -> list[Record]:
    found = await _wait_for_topic(bootstrap, security, name, deadline)
    assigned = [TopicPartition(name, p) for p in found]
    consumer = _consumer(bootstrap, security)
    await consumer.start()
    records: list[Record] = []
    try:
        consumer.assign(assigned)
        ends = await consumer.end_offsets(assigned)
        await consumer.seek_to_beginning(*assigned)
        while time.monotonic() < deadline and [
            tp for tp in assigned if await consumer.position(tp) < ends[tp]
        ]:
            records.extend(_records(await consumer.getmany(timeout_ms=500)))
    finally:
        await consumer.stop()
    return records


async def _committed(bootstrap: str, security: KafkaSecurity, group: str, topic: str) -> int:
    admin = core.admin_client(bootstrap, security)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return sum(meta.offset for tp, meta in offsets.items() if tp.topic == topic and meta.offset > 0)
