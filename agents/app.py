"""The agents' Faust wiring: topics, the carried-amounts table and the two stages.

    input --route-by-engine--> {app}-by-engine (keyed by src) --derive--> archive
      \\--> dead-letters

`route-by-engine` validates each message and re-keys it by its engine, so all
messages of an engine meet in one partition, where `derive` keeps the engine's
carried amounts in a changelog-backed table. With input_keyed_by_engine set,
the input already is keyed that way and `derive` reads it directly.

What each agent does with a batch is a pure stage (agents/stages.py). Faust
costs a fixed amount per event and more again per `Topic.send`, far more than
the stages themselves, so both agents take their input in bulk, a fetch at a
time, without an event per message (enginewatch/core/bulk.py), and hand their
messages straight to the producer, awaiting delivery once per batch
(docs/benchmarks.md has the figures).

Nothing is acknowledged before it is delivered: a batch's records are
acknowledged (and so their offsets may be committed) only after the broker
acknowledged every archive message and dead letter the batch gave, and the
engines' new states (agents/state.py) are written to the table only after
that too. A batch that fails stops the worker: restarted, it takes the batch
again, and the states' applied positions make the repeat exact.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator

import faust

from agents import stages
from agents.records import Input
from agents.resolve.resolver import Resolver
from agents.silence import Silence
from agents.stages import StageOutput
from agents.state import CARRIED_TABLE, Expiry
from enginewatch.core.bulk import Batch, FetchedRecord
from enginewatch.core.deadletters import dead_letter
from enginewatch.core.faust_private import (
    acknowledge_batch,
    make_record_current,
    read_in_bulk,
    take_bulk_batches,
)
from enginewatch.core.faustapp import RAW_BYTES, create_faust_app
from enginewatch.core.observe import watch_self
from enginewatch.core.points import Origin, Point, encode_archive
from enginewatch.core.selfmetrics import StageTimes
from enginewatch.core.settings import Settings

logger = logging.getLogger(__name__)

# A stable name: the internal topic's name is part of the deployment.
BY_ENGINE_TOPIC = "by-engine"
STAGE = "agents"
# The agents' names, which are also their stages' in the self-metrics.
ROUTE, DERIVE = "route-by-engine", "derive"

# A batch is what arrived within BATCH_SECONDS of its first record, at most
# BATCH_EVENTS records: under load each fetch brings plenty; the short wait lets
# `derive` gather the by-engine messages of several fetches into one batch.
BATCH_EVENTS = 1000
BATCH_SECONDS = 0.01
# How often one table partition is swept, at most, for states not written for the TTL.
SWEEP_SECONDS = 60.0
# How often an idle input moves the silence clocks on (agents/silence.py).
IDLE_TICK_SECONDS = 1.0


def create_agents_app(settings: Settings, resolver: Resolver) -> faust.App:
    app = create_faust_app(settings.kafka, "agents", topic_partitions=settings.topics.partitions)
    topics = settings.topics
    input_topic = app.topic(topics.input_topic, **RAW_BYTES)
    by_engine = app.topic(
        f"{app.conf.id}-{BY_ENGINE_TOPIC}", partitions=topics.partitions, internal=True, **RAW_BYTES
    )
    states = app.Table(CARRIED_TABLE, default=dict, partitions=topics.partitions)
    unknown, tutorial = settings.agents.unknown_types, settings.agents.tutorial_names

    async def deliver(topic: str, output: StageOutput) -> None:
        """Hand a batch's dead letters and messages to the producer; return once the
        broker acknowledged every one of them."""
        letters = [dead_letter(r.reason, r.origin, r.value, STAGE) for r in output.rejects]
        send = app.producer.send
        sent = [await send(topics.dead_letter_topic, None, v, None, None, None) for v in letters]
        sent += [await send(topic, k, v, None, None, h) for k, v, h in output.messages]
        await asyncio.gather(*sent)

    times = StageTimes("agents")
    watch_self(app, settings, times)
    watch = settings.agents
    silence = Silence(watch.silent_after, round(watch.silent_min * 1e9), resolver.model_for)
    derive_topic = input_topic if topics.input_keyed_by_engine else by_engine
    activity = _Activity()

    async def give_up(stage: str, exc: Exception) -> None:
        """A batch that failed is never acknowledged: the worker stops (exit 1), and
        whoever reads the partitions next, this worker restarted or another, takes
        the batch again from the last commit."""
        times.error(stage)
        logger.critical("a batch failed and none of it is acknowledged; stopping: %r", exc)
        await app.crash(exc)

    async def route(stream: faust.StreamT[bytes]) -> None:
        async for batch in take_bulk_batches(stream, BATCH_EVENTS, BATCH_SECONDS):
            started = time.monotonic()
            try:
                with activity.working():
                    output = stages.route_by_engine([_input(r) for r in batch.records], unknown)
                    await deliver(by_engine.get_topic_name(), output)
            except Exception as exc:
                return await give_up(ROUTE, exc)
            await acknowledge_batch(stream, batch)
            times.record(ROUTE, len(batch), time.monotonic() - started, _reasons(output))

    async def derive(stream: faust.StreamT[bytes]) -> None:
        model_for = resolver.model_for
        async for batch in take_bulk_batches(stream, BATCH_EVENTS, BATCH_SECONDS):
            started = time.monotonic()
            records = batch.records
            try:
                inputs = [_input(record) for record in records]
                output = stages.derive_archive(inputs, model_for, states, unknown, tutorial)
                if watch.silent_after > 0:
                    output.messages.extend(_silence_messages(silence.heard(output.heard)))
                with activity.working():
                    await deliver(topics.archive_topic, output)
                # Only now, with the points on the broker, are the new states kept:
                # each goes to the changelog partition of a record of its engine.
                written = time.time()
                for engine, (index, state) in output.states.items():
                    make_record_current(records[index])
                    states[engine] = state.to_table(records[index].partition, written)
                expire_silent_engines(batch)
            except Exception as exc:
                return await give_up(DERIVE, exc)
            await acknowledge_batch(stream, batch)
            times.record(DERIVE, len(batch), time.monotonic() - started, _reasons(output))

    # A short TTL (a test's) is swept more often than every SWEEP_SECONDS.
    expiry = Expiry(settings.state.ttl, min(SWEEP_SECONDS, settings.state.ttl / 2))

    def expire_silent_engines(batch: Batch) -> None:
        """Delete the states not written for the TTL: a tombstone each in the changelog."""
        by_partition = {record.partition: record for record in batch.records}
        for partition, engines in expiry.sweep(by_partition, states.items).items():
            make_record_current(by_partition[partition])
            for engine in engines:
                del states[engine]
            logger.info("dropped the state of %d engine(s) silent for the TTL", len(engines))

    read_in_bulk(app, input_topic)
    if topics.input_keyed_by_engine:
        app.agent(input_topic, name=DERIVE)(derive)
    else:
        read_in_bulk(app, by_engine)
        app.agent(input_topic, name=ROUTE)(route)
        app.agent(by_engine, name=DERIVE)(derive)

    async def idle_input() -> None:
        """With no input at all for ENGINEWATCH_SILENT_IDLE, the silence clocks of
        the partitions read here follow the wall clock."""
        if app.rebalancing:
            return
        name = derive_topic.get_topic_name()
        partitions = {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == name}
        silence.keep_only(partitions)
        if activity.idle_for(time.monotonic()) < watch.silent_idle:
            return
        silence.follow_wall_clock(partitions, round(IDLE_TICK_SECONDS * 1e9))
        messages = _silence_messages(silence.due(partitions))
        if messages:
            sent = [
                await app.producer.send(topics.archive_topic, k, v, None, None, None)
                for k, v, _ in messages
            ]
            await asyncio.gather(*sent)

    if watch.silent_after > 0:
        app.timer(IDLE_TICK_SECONDS, name="idle-input")(idle_input)

    async def keep_models_fresh() -> None:
        await resolver.keep_fresh()

    app.task(keep_models_fresh)

    return app


class _Activity:
    """When the agents last worked on input, and whether they do now: the input is
    idle only while neither stage has taken a batch for a while."""

    def __init__(self) -> None:
        self.last = time.monotonic()
        self.batches = 0

    @contextlib.contextmanager
    def working(self) -> Iterator[None]:
        self.batches += 1
        try:
            yield
        finally:
            self.batches -= 1
            self.last = time.monotonic()

    def idle_for(self, now: float) -> float:
        return 0.0 if self.batches else now - self.last


def _silence_messages(points: list[Point]) -> list[tuple[bytes, bytes, None]]:
    """Archive messages for silent and returning engines' points, one per engine."""
    by_engine: dict[str, list[Point]] = {}
    for point in points:
        by_engine.setdefault(point.tags["engine"], []).append(point)
    return [(engine.encode(), encode_archive(ps), None) for engine, ps in by_engine.items()]


def _reasons(output: StageOutput) -> list[str]:
    return [reject.reason for reject in output.rejects]


def _input(record: FetchedRecord) -> Input:
    origin = Origin(record.topic, record.partition, record.offset)
    headers = record.headers
    return Input(origin, record.key, record.value, dict(headers) if headers else None)
