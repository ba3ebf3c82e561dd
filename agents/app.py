"""The agents' Faust wiring: topics, the carried-amounts table and the two stages.

    input --route-by-engine--> {app}-by-engine (keyed by src) --derive--> archive
      \\--> dead-letters

`route-by-engine` validates each message and re-keys it by its engine, so all
messages of an engine meet in one partition, where `derive` keeps the engine's
carried amounts in a changelog-backed table. With input_keyed_by_engine set,
the input already is keyed that way and `derive` reads it directly.

What each agent does with a batch is a pure stage (agents/stages.py). Faust
costs a fixed amount per event and more again per `Topic.send`, far more than
the stages themselves, so both agents take their events in batches and hand
their messages straight to the producer, awaiting delivery once per batch
(docs/benchmarks.md has the figures).
"""

from __future__ import annotations

import asyncio

import faust

from agents import stages
from agents.records import Input
from agents.resolve.resolver import Resolver
from agents.stages import StageOutput
from enginewatch.core.deadletters import dead_letter
from enginewatch.core.faust_private import each_made_current, take_event_batches
from enginewatch.core.faustapp import RAW_BYTES, create_faust_app
from enginewatch.core.points import Origin
from enginewatch.core.settings import Settings

# Stable names: a table's name is part of its changelog topic, so renaming it loses state.
CARRIED_TABLE = "carried-amounts"
BY_ENGINE_TOPIC = "by-engine"
STAGE = "agents"

# A batch is what arrived within BATCH_SECONDS, at most BATCH_EVENTS events: a
# full batch under load, a short wait when the stream is quiet.
BATCH_EVENTS = 1000
BATCH_SECONDS = 0.05


def create_agents_app(settings: Settings, resolver: Resolver) -> faust.App:
    app = create_faust_app(settings.kafka, "agents", topic_partitions=settings.topics.partitions)
    input_topic = app.topic(settings.topics.input_topic, **RAW_BYTES)
    dead_letters = app.topic(settings.topics.dead_letter_topic, **RAW_BYTES)
    by_engine = app.topic(
        f"{app.conf.id}-{BY_ENGINE_TOPIC}",
        partitions=settings.topics.partitions,
        internal=True,
        **RAW_BYTES,
    )
    carried = app.Table(CARRIED_TABLE, default=dict, partitions=settings.topics.partitions)

    async def deliver(topic: str, output: StageOutput) -> None:
        """Hand a batch's dead letters and messages to the producer; return once the
        broker has the messages. take_events acks the batch's events after this:
        the one place where sending and acknowledging meet."""
        for reject in output.rejects:
            letter = dead_letter(reject.reason, reject.origin, reject.value, STAGE)
            await dead_letters.send(value=letter)
        sent = [await app.producer.send(topic, k, v, None, None, h) for k, v, h in output.messages]
        # A failure raises here, and Faust logs the agent's crash and restarts it.
        await asyncio.gather(*sent)

    async def route_by_engine(stream: faust.StreamT[bytes]) -> None:
        async for events in take_event_batches(stream, BATCH_EVENTS, BATCH_SECONDS):
            output = stages.route_by_engine([_input(event) for event in events])
            await deliver(by_engine.get_topic_name(), output)

    async def derive(stream: faust.StreamT[bytes]) -> None:
        model_for = resolver.model_for
        async for events in take_event_batches(stream, BATCH_EVENTS, BATCH_SECONDS):
            # Taken lazily: each event is current while the stage writes its carried
            # amounts, so the table's changelog gets them on the event's partition.
            batch = (_input(event) for event in each_made_current(events))
            output = stages.derive_archive(batch, model_for, carried)
            await deliver(settings.topics.archive_topic, output)

    if settings.topics.input_keyed_by_engine:
        app.agent(input_topic, name="derive")(derive)
    else:
        app.agent(input_topic, name="route-by-engine")(route_by_engine)
        app.agent(by_engine, name="derive")(derive)

    async def keep_models_fresh() -> None:
        await resolver.keep_fresh()

    app.task(keep_models_fresh)

    return app


def _input(event: faust.EventT[bytes]) -> Input:
    message = event.message
    origin = Origin(message.topic, message.partition, message.offset)
    return Input(origin, event.key, event.value, event.headers)
