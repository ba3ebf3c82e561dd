"""The Faust app settings every enginewatch worker shares."""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn

import faust
import uvloop
from aiokafka.errors import KafkaError

from enginewatch.core.faust_private import (
    commit_only_acknowledged_offsets,
    keep_skipped_messages_unacknowledged,
    shorten_fetch_wait,
)
from enginewatch.core.kafka import (
    ToolError,
    bootstrap_servers,
    check_connection,
    describe,
    ensure_topic,
)
from enginewatch.core.kafkasecurity import KafkaSecurity
from enginewatch.core.settings import KafkaConfig, TopicsConfig

# Topics whose keys and values are bytes, passed through untouched: the
# agents and archivers parse them themselves, and Faust's codecs would cost time.
RAW_BYTES: dict[str, Any] = {
    "key_type": bytes,
    "value_type": bytes,
    "key_serializer": "raw",
    "value_serializer": "raw",
}
# The largest record batch a worker's producer builds (Faust's producer_max_request_size).
PRODUCER_BATCH_BYTES = 1_000_000
# Allocations between two collections of the youngest generation (Python's default: 700).
GC_THRESHOLD = 20_000


def create_faust_app(kafka: KafkaConfig, role: str, **overrides: Any) -> faust.App:
    """A Faust app named `{app_id}-{role}`: its consumer group and internal topics
    carry that name, so two deployments (or two sinks) on one broker stay apart."""
    options: dict[str, Any] = {
        "broker": kafka.broker,
        "broker_credentials": faust_credentials(KafkaSecurity.from_config(kafka)),
        # Every record on every in-sync replica before it counts as sent.
        "producer_acks": -1,
        # Tables are recovered from their changelog topics: no local store to lose.
        "store": "memory://",
        # Every topic a worker uses is created before it starts (`ensure_topics`,
        # with ENGINEWATCH_REPLICATION_FACTOR or the broker's default), so Faust's
        # factor applies only to a topic it would make itself, and none is left to it.
        "topic_replication_factor": kafka.replication_factor or 1,
        # No worker elects a leader: no leader topic, the one Faust would make.
        "topic_disable_leader": True,
        "consumer_auto_offset_reset": "earliest",
        # A record batch per partition up to Faust's largest produce request (1 MB,
        # under the broker's default message.max.bytes of 1 048 588), not 16 KiB:
        # the agents send a batch's output at once, and with small record batches
        # each send cost its own share of the produce request (docs/benchmarks.md).
        "producer_max_batch_size": PRODUCER_BATCH_BYTES,
        # Faust's web server is off unless asked for (--web-port), so several
        # workers run side by side on one host without port clashes.
        "web_enabled": False,
        "autodiscover": False,
    }
    options.update(overrides)
    keep_skipped_messages_unacknowledged()
    commit_only_acknowledged_offsets()
    shorten_fetch_wait()
    return faust.App(f"{kafka.app_id}-{role}", **options)


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """How a worker's topic is made when it is missing."""

    partitions: int
    config: Mapping[str, str] = field(default_factory=dict)


# What Faust asks of a table's changelog topic: compacted, the latest value per key.
COMPACTED: Mapping[str, str] = {"cleanup.policy": "compact"}


def app_topics(app: faust.App) -> dict[str, TopicSpec]:
    """Every topic the app reads: its agents' sources and its tables' changelogs."""
    default = app.conf.topic_partitions
    topics: dict[str, TopicSpec] = {}
    for agent in app.agents.values():
        channel = agent.channel
        assert isinstance(channel, faust.TopicT), f"agent {agent.name} reads no topic"
        for name in channel.topics:
            topics[name] = TopicSpec(channel.partitions or default)
    for table in app.tables.values():
        changelog = table.changelog_topic
        topics[changelog.get_topic_name()] = TopicSpec(changelog.partitions or default, COMPACTED)
    return topics


def ensure_worker_topics(
    app: faust.App, kafka: KafkaConfig, topics: TopicsConfig
) -> dict[str, int]:
    """`ensure_topics` for a worker: every topic its app reads, the archive topic
    (with the internal topics' partition count when missing) and the dead letters."""
    return ensure_topics(
        kafka,
        {
            **app_topics(app),
            topics.archive_topic: TopicSpec(topics.partitions),
            topics.dead_letter_topic: TopicSpec(1),
        },
    )


def ensure_topics(kafka: KafkaConfig, topics: Mapping[str, TopicSpec]) -> dict[str, int]:
    """Create the worker's missing topics before it starts, and wait until each has
    a leader for every partition; each topic's partition count.

    A Faust worker ignores, for good, a topic whose metadata it does not see when
    it subscribes (and then idles): so every topic it reads, the internal ones
    included, must be there and usable first, whichever worker started first.
    """
    bootstrap = bootstrap_servers(kafka.broker)
    security = KafkaSecurity.from_config(kafka)

    async def create() -> dict[str, int]:
        # A refused certificate or password: one line now, not retries.
        await check_connection(bootstrap, security)
        counts: dict[str, int] = {}
        for name, spec in topics.items():
            counts[name], _ = await ensure_topic(
                bootstrap,
                name,
                spec.partitions,
                spec.config,
                security=security,
                replication_factor=kafka.replication_factor,
            )
        return counts

    try:
        return asyncio.run(create())
    except (KafkaError, OSError) as exc:
        raise ToolError(describe(exc, bootstrap)) from None


def faust_credentials(security: KafkaSecurity) -> faust.auth.Credentials | None:
    """The same security settings as Faust's `broker_credentials`."""
    if security.uses_sasl:
        return faust.SASLCredentials(
            username=security.username,
            password=security.password.get_secret_value(),
            # With a context Faust speaks SASL_SSL, without SASL_PLAINTEXT.
            ssl_context=security.ssl_context,
            mechanism=security.mechanism,
        )
    if security.uses_tls:
        return faust.SSLCredentials(security.ssl_context)
    return None


def accept_worker_options(parser: argparse.ArgumentParser) -> None:
    """Let a worker command pass Faust's own worker options through to Faust."""
    parser.epilog = (
        "Faust's worker options pass through, e.g. `-l info` or `--web-port 6067` "
        "(Faust's web server is off unless a port is given)."
    )
    parser.set_defaults(accepts_extra=True, faust_worker=True)


def use_uvloop() -> None:
    """Run the process's event loops on uvloop, on which Faust's many small
    callbacks take less CPU per event than on asyncio's own loop
    (docs/benchmarks.md). Call before anything makes a loop: Faust and mode keep
    the first loop a thread makes (building an app that reads in bulk makes one,
    through Faust's flow control), so a policy set later is ignored."""
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def run_worker(app: faust.App, prog: str, worker_args: Sequence[str]) -> NoReturn:
    """Run `faust worker` for the app, passing Faust's own worker options through."""
    args = list(worker_args)
    wants_web = any(arg in ("--with-web", "-p") or arg.startswith("--web-port") for arg in args)
    if not wants_web and "--without-web" not in args:
        args.append("--without-web")
    sys.argv = [prog, "worker", *args]
    _tune_garbage_collector()
    app.main()


def _tune_garbage_collector() -> None:
    """Fewer, cheaper collections for workers that decode many short-lived objects.

    Every decoded message is a few dicts and lists, so the default threshold
    (700 allocations) runs a collection every few messages, and the older
    generations keep walking everything imported at start-up. Freezing what
    exists now (modules, the app) takes it out of every collection; a higher
    threshold makes collections rarer. Together they save about a tenth of the
    archiver's CPU per point (docs/benchmarks.md).
    """
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD, 20, 100)
