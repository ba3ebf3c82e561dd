"""Kafka reads for the archiver tests: a topic's records, and a group's committed offsets.

Both work without joining any consumer group, so they never disturb the
archivers under test.
"""

from __future__ import annotations

import asyncio
import time

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from tests.support.kafka import BOOTSTRAP


def read_topic(
    topic: str, partitions: int, count: int, timeout: float = 60.0, settle: float = 0.0
) -> list[bytes | None]:
    """Values of a topic with this many partitions, from the beginning, until `count`
    arrived (then `settle` seconds more, to see any that should not be there)."""

    async def _read() -> list[bytes | None]:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=BOOTSTRAP, auto_offset_reset="earliest", enable_auto_commit=False
        )
        await consumer.start()
        values: list[bytes | None] = []
        try:
            consumer.assign([TopicPartition(topic, p) for p in range(partitions)])
            deadline = time.monotonic() + timeout
            settle_until: float | None = None
            while time.monotonic() < deadline:
                if len(values) >= count and settle_until is None:
                    settle_until = time.monotonic() + settle
                if settle_until is not None and time.monotonic() >= settle_until:
                    break
                batch = await consumer.getmany(timeout_ms=200)
                for messages in batch.values():
                    values.extend(m.value for m in messages)
        finally:
            await consumer.stop()
        return values

    return asyncio.run(_read())


def committed(group: str, topic: str) -> int:
    """The sum of the group's committed offsets on the topic's partitions."""

    async def _committed() -> int:
        admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP)
        await admin.start()
        try:
            offsets = await admin.list_consumer_group_offsets(group)
        finally:
            await admin.close()
        return sum(
            meta.offset for tp, meta in offsets.items() if tp.topic == topic and meta.offset > 0
        )

    return asyncio.run(_committed())
