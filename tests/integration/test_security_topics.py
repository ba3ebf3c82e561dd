"""Topics as a real cluster needs them: ENGINEWATCH_REPLICATION_FACTOR reaches the
broker's CreateTopics, and unset it is the broker's own default.replication.factor.

The shared broker has one node: a factor of 2 cannot be met there, which is
how a test sees that the factor is the one asked for.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from enginewatch.core.kafka import ToolError, default_replication_factor, ensure_topic
from enginewatch.harness import kafka
from enginewatch.harness.processes import run_enginewatch
from tests.support.services import base_env


async def replicas_and_default(topic: str) -> tuple[list[int], int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka.LOCAL_BOOTSTRAP)
    await admin.start()
    try:
        (described,) = await admin.describe_topics([topic])
        default = await default_replication_factor(admin)
    finally:
        await admin.close()
    return [len(p["replicas"]) for p in described["partitions"]], default


async def listed() -> list[str]:
    """The broker's topics; unlike a described topic, a listed one is never auto-created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka.LOCAL_BOOTSTRAP)
    await admin.start()
    try:
        return list(await admin.list_topics())
    finally:
        await admin.close()


def test_unset_the_factor_is_the_brokers_default(unique: Callable[[str], str]) -> None:
    topic = unique("topic")
    count, created = asyncio.run(ensure_topic(kafka.LOCAL_BOOTSTRAP, topic, 3))
    assert (count, created) == (3, True)
    replicas, default = asyncio.run(replicas_and_default(topic))
    assert default == 1  # services/kafka/server.properties leaves Kafka's default
    assert replicas == [default] * 3


def test_the_factor_asked_for_is_the_one_the_broker_gets(unique: Callable[[str], str]) -> None:
    topic = unique("topic")
    with pytest.raises(
        ToolError, match=r"cannot create topic .*replication factor of 2 cannot be reached"
    ):
        asyncio.run(ensure_topic(kafka.LOCAL_BOOTSTRAP, topic, 1, replication_factor=2))
    assert topic not in asyncio.run(listed())  # nothing made of it
    count, created = asyncio.run(
        ensure_topic(kafka.LOCAL_BOOTSTRAP, topic, 2, replication_factor=1)
    )
    assert (count, created) == (2, True)


def test_a_worker_creates_its_topics_with_the_setting(unique: Callable[[str], str]) -> None:
    app_id = unique("app")
    env = base_env(
        app_id,
        input_topic=unique("notify"),
        archive_topic=unique("archive"),
        dead_letter_topic=unique("dead"),
        replication_factor="2",
    )
    done = run_enginewatch("agents", env=env, timeout=60)
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert done.returncode == 1
    assert len(lines) == 1, lines
    assert "cannot create topic" in lines[0]
    assert "replication factor of 2 cannot be reached" in lines[0]
