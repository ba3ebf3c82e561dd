"""The Kafka plumbing the tools share: broker address, topics, a checked producer.

Every client is made through `_client_options` (bootstrap servers, the
security settings of enginewatch/core/kafkasecurity.py): no client of
enginewatch connects any other way.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import deque
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaConnectionError, KafkaError, for_code

from enginewatch.core.kafkasecurity import (
    PLAINTEXT,
    KafkaSecurity,
    client_options,
    connection_problem,
)
from enginewatch.core.redact import mask_urls

logger = logging.getLogger(__name__)

TOPIC_ALREADY_EXISTS = 36
UNKNOWN_TOPIC_OR_PARTITION = 3
# Failures logged one by one; beyond, they are only counted (and summed up).
LOGGED_FAILURES = 20
# Sends awaited in bulk: enough to keep the producer's batches full, few
# enough that a failure is reported while the run goes on.
MAX_PENDING = 5000
# How long a topic may take to have a leader for every partition, and how often to ask.
READY_WITHIN = 30.0
READY_POLL = 0.1

_SCHEME = re.compile(r"^[a-z]+://")


class ToolError(RuntimeError):
    """A tool cannot do what it was asked; the message says why, in one line."""


class KafkaUnreachable(ToolError, KafkaConnectionError):  # type: ignore[misc]
    """No broker takes a connection, and why; still a KafkaConnectionError for
    callers that catch aiokafka's errors."""

    def __str__(self) -> str:
        return RuntimeError.__str__(self)  # the reason alone, as ToolError says it


def describe(exc: Exception, bootstrap: str) -> str:
    """One line for a failure talking to Kafka."""
    if isinstance(exc, ToolError):
        return mask_urls(str(exc))
    return mask_urls(f"Kafka at {bootstrap}: {exc or type(exc).__name__}")


def _client_options(bootstrap: str, security: KafkaSecurity) -> dict[str, Any]:
    """What every client is made with: where the brokers are, and how to reach them."""
    return {"bootstrap_servers": bootstrap, **client_options(security)}


async def check_connection(bootstrap: str, security: KafkaSecurity = PLAINTEXT) -> None:
    """At start: a ToolError with the reason when no broker takes a connection
    (unreachable, untrusted certificate, refused password), instead of retries
    that cannot succeed."""
    problem = await connection_problem(bootstrap, security)
    if problem is not None:
        raise KafkaUnreachable(f"cannot connect to Kafka at {problem}")


async def _start(client: Any, bootstrap: str, security: KafkaSecurity) -> None:
    """Start an aiokafka client; when it cannot bootstrap, say why (one line)."""
    try:
        await client.start()
    except KafkaConnectionError:
        problem = await connection_problem(bootstrap, security)
        raise KafkaUnreachable(f"cannot connect to Kafka at {problem or bootstrap}") from None


@asynccontextmanager
async def _admin(bootstrap: str, security: KafkaSecurity) -> AsyncIterator[AIOKafkaAdminClient]:
    admin = AIOKafkaAdminClient(**_client_options(bootstrap, security))
    await _start(admin, bootstrap, security)
    try:
        yield admin
    finally:
        await admin.close()


@asynccontextmanager
async def _consumer(
    bootstrap: str, security: KafkaSecurity, **options: Any
) -> AsyncIterator[AIOKafkaConsumer]:
    consumer = AIOKafkaConsumer(**_client_options(bootstrap, security), **options)
    await _start(consumer, bootstrap, security)
    try:
        yield consumer
    finally:
        await consumer.stop()


def admin_client(bootstrap: str, security: KafkaSecurity = PLAINTEXT) -> AIOKafkaAdminClient:
    """An admin client, not started, for those that keep one open (enginewatch top)."""
    return AIOKafkaAdminClient(**_client_options(bootstrap, security))


def consumer_client(
    bootstrap: str, security: KafkaSecurity = PLAINTEXT, **options: Any
) -> AIOKafkaConsumer:
    """A consumer, not started; `options` are aiokafka's (group, offsets, fetch sizes)."""
    return AIOKafkaConsumer(**_client_options(bootstrap, security), **options)


def producer_client(
    bootstrap: str, security: KafkaSecurity = PLAINTEXT, **options: Any
) -> AIOKafkaProducer:
    """A producer, not started, acknowledged by every in-sync replica (acks=all)."""
    return AIOKafkaProducer(**_client_options(bootstrap, security), **options, acks="all")


def bootstrap_servers(broker: str) -> str:
    """`kafka://h1:9092;h2:9092` (Faust's broker URL) -> `h1:9092,h2:9092`."""
    hosts = [_SCHEME.sub("", part.strip()) for part in re.split(r"[;,]", broker)]
    return ",".join(host.rstrip("/") for host in hosts if host)


async def topic_partitions(
    bootstrap: str, topic: str, *, security: KafkaSecurity = PLAINTEXT
) -> list[int] | None:
    """The topic's partition numbers, or None when it does not exist.

    Asks through the admin client, whose metadata requests never create topics
    (a consumer's or producer's may, on brokers with auto-creation on).
    """
    async with _admin(bootstrap, security) as admin:
        (described,) = await admin.describe_topics([topic])
    if described["error_code"] == UNKNOWN_TOPIC_OR_PARTITION:
        return None
    if described["error_code"]:
        raise ToolError(f"topic {topic!r}: {for_code(described['error_code']).__name__}")
    return sorted(p["partition"] for p in described["partitions"])


async def ensure_topic(
    bootstrap: str,
    topic: str,
    partitions: int,
    config: Mapping[str, str] | None = None,
    ready_within: float = READY_WITHIN,
    *,
    security: KafkaSecurity = PLAINTEXT,
    replication_factor: int | None = None,
) -> tuple[int, bool]:
    """Create the topic with `partitions` (and `config`) unless it exists, then wait
    until the broker reports every partition with a leader.

    Returns its partition count and whether it was created here. A Faust worker
    that subscribes before the topic's metadata is visible ignores the topic for
    good, so "created" is not enough: the topic must be usable. A topic still
    without leaders after `ready_within` seconds is a ToolError. Its replicas:
    `replication_factor`, or when None the broker's default.replication.factor.
    """
    async with _admin(bootstrap, security) as admin:
        replicas = replication_factor or await default_replication_factor(admin)
        new = NewTopic(
            topic,
            num_partitions=partitions,
            replication_factor=replicas,
            topic_configs=dict(config or {}),
        )
        # Created first, not looked up: aiokafka's metadata requests ask the
        # broker to auto-create a missing topic (with its defaults).
        response = await admin.create_topics([new])
        (error,) = response.to_object()["topic_errors"]
        if error["error_code"] not in (0, TOPIC_ALREADY_EXISTS):
            raise ToolError(f"cannot create topic {topic!r}: {error['error_message']}")
        created = error["error_code"] == 0
        count = await _wait_for_leaders(admin, topic, partitions if created else None, ready_within)
    if created:
        logger.info(
            "created topic %s with %d partition(s) of %d replica(s)", topic, count, replicas
        )
    return count, created


async def default_replication_factor(admin: AIOKafkaAdminClient) -> int:
    """The broker's default.replication.factor, as topics created without one get it.

    aiokafka's CreateTopics (v3) cannot leave the factor to the broker (-1 needs
    v4), so it is asked for (DescribeConfigs) and given explicitly.
    """
    # Any broker: the setting is the cluster's, each broker holds it.
    broker = str((await admin.describe_cluster())["brokers"][0]["node_id"])
    wanted = ConfigResource(ConfigResourceType.BROKER, broker, {"default.replication.factor": None})
    (response,) = await admin.describe_configs([wanted])
    (resource,) = response.to_object()["resources"]
    entries = {e["config_names"]: e["config_value"] for e in resource["config_entries"]}
    value = entries.get("default.replication.factor")
    if resource["error_code"] or value is None:
        raise ToolError(
            "cannot read the broker's default.replication.factor "
            f"({resource['error_message'] or 'not in its answer'}); "
            "set ENGINEWATCH_REPLICATION_FACTOR"
        )
    return int(value)


async def _wait_for_leaders(
    admin: AIOKafkaAdminClient, topic: str, expected: int | None, within: float
) -> int:
    """The topic's partition count, once it has `expected` partitions (any, when None)
    and each has a leader."""
    deadline = time.monotonic() + within
    while True:
        (described,) = await admin.describe_topics([topic])
        found = described["partitions"] if described["error_code"] == 0 else []
        led = [p for p in found if p["error_code"] == 0 and p["leader"] >= 0]
        if found and len(led) == len(found) and (expected is None or len(found) == expected):
            return len(found)
        if time.monotonic() > deadline:
            raise ToolError(
                f"topic {topic!r} is not ready after {within:.0f}s: "
                f"{len(led)} of {expected or len(found)} partition(s) have a leader"
            )
        await asyncio.sleep(READY_POLL)


@dataclass
class SendFailure:
    """A message the broker did not take, and where it came from."""

    label: str
    error: str


@dataclass
class Sender:
    """A producer whose every send is checked: failures are collected, never lost.

    Sends are pipelined (awaited in bulk) so a replay runs at the producer's
    speed, and per-partition order is kept by the idempotent producer.
    """

    bootstrap: str
    topic: str
    security: KafkaSecurity = PLAINTEXT
    sent: int = 0
    failures: list[SendFailure] = field(default_factory=list)
    _producer: AIOKafkaProducer | None = None
    _pending: deque[tuple[str, asyncio.Future[object]]] = field(default_factory=deque)

    async def start(self) -> None:
        self._producer = producer_client(
            self.bootstrap, self.security, enable_idempotence=True, linger_ms=5
        )
        await _start(self._producer, self.bootstrap, self.security)

    async def send(self, value: bytes, key: bytes | None, label: str) -> None:
        assert self._producer is not None, "Sender.start() first"
        try:
            future = await self._producer.send(self.topic, value, key=key)
        except KafkaError as exc:
            # Refused before it left (e.g. larger than the producer allows).
            self._fail(label, exc)
            return
        self._pending.append((label, future))
        if len(self._pending) >= MAX_PENDING:
            await self._settle(MAX_PENDING // 2)

    async def flush(self) -> None:
        """Wait until every message sent so far is acknowledged or failed."""
        await self._settle(0)

    async def stop(self) -> None:
        if self._producer is None:
            return
        try:
            await self.flush()
        finally:
            await self._producer.stop()
            self._producer = None

    async def _settle(self, keep: int) -> None:
        while len(self._pending) > keep:
            label, future = self._pending.popleft()
            try:
                await future
            except KafkaError as exc:
                self._fail(label, exc)
            else:
                self.sent += 1

    def _fail(self, label: str, exc: Exception) -> None:
        failure = SendFailure(label, f"{type(exc).__name__}: {exc}")
        self.failures.append(failure)
        if len(self.failures) <= LOGGED_FAILURES:
            logger.error("%s not sent: %s", label, failure.error)
        if len(self.failures) == LOGGED_FAILURES:
            logger.error("further failures are counted, not logged")


async def topic_size(bootstrap: str, topic: str, *, security: KafkaSecurity = PLAINTEXT) -> int:
    """Messages the topic holds now (0 when it does not exist)."""
    partitions = await topic_partitions(bootstrap, topic, security=security)
    if not partitions:
        return 0
    async with _consumer(bootstrap, security, enable_auto_commit=False) as consumer:
        assigned = [TopicPartition(topic, p) for p in partitions]
        first = await consumer.beginning_offsets(assigned)
        last = await consumer.end_offsets(assigned)
    return sum(last[tp] - first[tp] for tp in assigned)


async def read_topic(
    bootstrap: str, topic: str, within: float, *, security: KafkaSecurity = PLAINTEXT
) -> list[tuple[bytes | None, bytes | None]]:
    """Every (key, value) the topic holds now, partition by partition, in order;
    nothing when it does not exist. Without a consumer group: nothing is committed.
    A ToolError when it cannot be read to its end within `within` seconds."""
    partitions = await topic_partitions(bootstrap, topic, security=security)
    if not partitions:
        return []
    assigned = [TopicPartition(topic, p) for p in partitions]
    records: list[tuple[bytes | None, bytes | None]] = []
    async with _consumer(bootstrap, security, enable_auto_commit=False) as consumer:
        consumer.assign(assigned)
        ends = await consumer.end_offsets(assigned)
        await consumer.seek_to_beginning(*assigned)
        deadline = time.monotonic() + within
        while [tp for tp in assigned if await consumer.position(tp) < ends[tp]]:
            if time.monotonic() > deadline:
                raise ToolError(f"topic {topic!r} could not be read to its end in {within:.0f}s")
            batch = await consumer.getmany(timeout_ms=500)
            records += [(m.key, m.value) for messages in batch.values() for m in messages]
    return records


async def delete_topics(
    bootstrap: str, prefix: str, *, security: KafkaSecurity = PLAINTEXT
) -> list[str]:
    """Delete every topic whose name starts with `prefix`; their names."""
    async with _admin(bootstrap, security) as admin:
        doomed = sorted(t for t in await admin.list_topics() if t.startswith(prefix))
        if doomed:
            await admin.delete_topics(doomed)
    return doomed
