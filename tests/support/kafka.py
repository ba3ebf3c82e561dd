"""Small synchronous helpers over aiokafka for tests: topics, produce, consume."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from tests.support.services import KAFKA

BOOTSTRAP = f"{KAFKA[0]}:{KAFKA[1]}"


@dataclass(frozen=True)
class Record:
    key: bytes | None
    value: bytes | None
    partition: int
    offset: int


def create_topic(name: str, partitions: int = 1) -> None:
    async def _create() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP)
        await admin.start()
        try:
            await admin.create_topics(
                [NewTopic(name, num_partitions=partitions, replication_factor=1)]
            )
        finally:
            await admin.close()

    asyncio.run(_create())


def produce(
    topic: str,
    values: Iterable[bytes | None],
    keys: Sequence[bytes | None] | None = None,
    partition: int | None = None,
) -> None:
    async def _produce() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=BOOTSTRAP, linger_ms=5)
        await producer.start()
        try:
            futures = [
                await producer.send(
                    topic, value, key=None if keys is None else keys[i], partition=partition
                )
                for i, value in enumerate(values)
            ]
            await asyncio.gather(*futures)
        finally:
            await producer.stop()

    asyncio.run(_produce())


def consume(
    topic: str,
    count: int,
    timeout: float = 60.0,
    settle: float = 0.0,
    units: Callable[[Record], int] | None = None,
) -> list[Record]:
    """Read a topic from the beginning until `count` records arrived or the time is up.

    With `settle` > 0, go on reading that long after `count` is reached, so a test
    also sees records that should not be there. With `units`, `count` counts what
    it says each record holds (e.g. the points of an archive message), not records.
    """

    async def _consume() -> list[Record]:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=BOOTSTRAP,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            metadata_max_age_ms=1000,  # notice a topic created after the start soon
        )
        await consumer.start()
        records: list[Record] = []
        try:
            deadline = time.monotonic() + timeout
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
                batch = await consumer.getmany(timeout_ms=200)
                for messages in batch.values():
                    for m in messages:
                        record = Record(m.key, m.value, m.partition, m.offset)
                        records.append(record)
                        done += 1 if units is None else units(record)
        finally:
            await consumer.stop()
        return records

    return asyncio.run(_consume())
