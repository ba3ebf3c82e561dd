"""The agents' Faust wiring: topics, the carried-amounts table and two thin agents.

    input --route-by-engine--> {app}-by-engine (keyed by src) --derive--> archive
      \\--> dead-letters

`route-by-engine` validates each message and re-keys it by its engine, so all
messages of an engine meet in one partition, where `derive` keeps the engine's
carried amounts in a changelog-backed table. With input_keyed_by_engine set,
the input already is keyed that way and `derive` reads it directly.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import faust
import orjson

from agents.pipeline import Accepted, Rejected, engine_of, handle
from agents.resolve.resolver import Resolver
from enginewatch.deadletters import dead_letter
from enginewatch.faustapp import RAW_BYTES, create_faust_app
from enginewatch.points import Origin, encode_archive
from enginewatch.settings import Settings

# Stable names: a table's name is part of its changelog topic, so renaming it loses state.
CARRIED_TABLE = "carried-amounts"
BY_ENGINE_TOPIC = "by-engine"
ORIGIN_HEADER = "enginewatch-origin"
STAGE = "agents"


def create_agents_app(settings: Settings, resolver: Resolver) -> faust.App:
    app = create_faust_app(settings, "agents", topic_partitions=settings.partitions)
    input_topic = app.topic(settings.input_topic, **RAW_BYTES)
    archive = app.topic(settings.archive_topic, **RAW_BYTES)
    dead_letters = app.topic(settings.dead_letter_topic, **RAW_BYTES)
    by_engine = app.topic(
        f"{app.conf.id}-{BY_ENGINE_TOPIC}",
        partitions=settings.partitions,
        internal=True,
        **RAW_BYTES,
    )
    carried = app.Table(CARRIED_TABLE, default=dict, partitions=settings.partitions)

    async def reject(reason: str, origin: Origin, value: bytes | None) -> None:
        await dead_letters.send(value=dead_letter(reason, origin, value, STAGE))

    async def route_by_engine(stream: faust.StreamT[bytes]) -> AsyncIterator[None]:
        async for event in stream.events():
            origin = _origin(event)
            engine = engine_of(event.value)
            if isinstance(engine, Rejected):
                await reject(engine.reason, origin, event.value)
            else:
                await by_engine.send(
                    key=engine.encode(), value=event.value, headers={ORIGIN_HEADER: _pack(origin)}
                )
            yield None

    async def derive(stream: faust.StreamT[bytes]) -> AsyncIterator[None]:
        async for event in stream.events():
            origin = _unpack(event.headers.get(ORIGIN_HEADER)) or _origin(event)
            outcome = handle(event.value, resolver.model_for, carried)
            if isinstance(outcome, Accepted):
                if outcome.points:
                    await archive.send(
                        key=outcome.engine.encode(), value=encode_archive(outcome.points, origin)
                    )
            else:
                await reject(outcome.reason, origin, event.value)
            yield None

    if settings.input_keyed_by_engine:
        app.agent(input_topic, name="derive")(derive)
    else:
        app.agent(input_topic, name="route-by-engine")(route_by_engine)
        app.agent(by_engine, name="derive")(derive)

    async def keep_models_fresh() -> None:
        await resolver.keep_fresh()

    app.task(keep_models_fresh)

    return app


def _origin(event: faust.EventT[bytes]) -> Origin:
    message = event.message
    return Origin(message.topic, message.partition, message.offset)


def _pack(origin: Origin) -> bytes:
    return orjson.dumps([origin.topic, origin.partition, origin.offset])


def _unpack(header: bytes | None) -> Origin | None:
    if header is None:
        return None
    topic, partition, offset = orjson.loads(header)
    return Origin(topic, partition, offset)
