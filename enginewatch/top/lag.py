"""The pipeline's consumer lag: each worker's committed offsets against the topics' ends.

The groups are the workers' Faust app ids (`{app_id}-agents`, `-archiver`,
`-alerts`); the topics those a group committed on, all their partitions
counted. Asked through the admin client (committed offsets, partitions) and a
consumer without a group (end offsets), as enginewatch.core.kafka does: no
request here joins a group, commits or creates a topic.
"""

from __future__ import annotations

from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from enginewatch.core.kafka import admin_client, consumer_client
from enginewatch.core.kafkasecurity import PLAINTEXT, KafkaSecurity
from enginewatch.top.snapshot import LagRow, lag_rows

ROLES = ("agents", "archiver", "alerts")


class LagReader:
    """Kafka clients kept open across refreshes: one refresh, a few requests."""

    def __init__(
        self,
        bootstrap: str,
        app_id: str,
        roles: Sequence[str] = ROLES,
        security: KafkaSecurity = PLAINTEXT,
    ) -> None:
        self.bootstrap = bootstrap
        self.security = security
        self.groups = {role: f"{app_id}-{role}" for role in roles}
        self._admin: AIOKafkaAdminClient | None = None
        self._consumer: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        self._admin = admin_client(self.bootstrap, self.security)
        await self._admin.start()
        self._consumer = consumer_client(self.bootstrap, self.security, enable_auto_commit=False)
        await self._consumer.start()

    async def close(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None
        if self._admin is not None:
            await self._admin.close()
            self._admin = None

    async def read(self) -> list[LagRow]:
        assert self._admin is not None, "start() first"
        assert self._consumer is not None, "start() first"
        rows: list[LagRow] = []
        for role, group in self.groups.items():
            offsets = await self._admin.list_consumer_group_offsets(group)
            committed = {
                (tp.topic, tp.partition): meta.offset
                for tp, meta in offsets.items()
                if meta.offset >= 0
            }
            topics = sorted({topic for topic, _ in committed})
            if not topics:
                continue
            partitions = [
                TopicPartition(described["topic"], p["partition"])
                for described in await self._admin.describe_topics(topics)
                if described["error_code"] == 0
                for p in described["partitions"]
            ]
            ends = await self._consumer.end_offsets(partitions)
            rows += lag_rows(
                role, committed, {(tp.topic, tp.partition): end for tp, end in ends.items()}
            )
        return rows
