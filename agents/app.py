"""The agents' Faust wiring: topics, the carried-amounts table and two thin agents.

    input --route-by-engine--> {app}-by-engine (keyed by src) --derive--> archive
      \\--> dead-letters

`route-by-engine` validates each message and re-keys it by its engine, so all
messages of an engine meet in one partition, where `derive` keeps the engine's
carried amounts in a changelog-backed table. With input_keyed_by_engine set,
the input already is keyed that way and `derive` reads it directly.

Both agents take their events in batches and hand their messages straight to
the producer, awaiting delivery once per batch: Faust's per-message
`Topic.send` cost more than the whole derivation. `derive` publishes one
archive message per engine and batch, holding that engine's points in order,
so the archive hop and the archiver pay per group rather than per report
(docs/benchmarks.md has the figures).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Awaitable, Sequence
from dataclasses import dataclass, field
from typing import cast

import faust
import orjson
from faust.streams import _current_event

from agents.pipeline import Accepted, Rejected, engine_of, handle
from agents.resolve.resolver import Resolver
from enginewatch.deadletters import dead_letter
from enginewatch.faustapp import RAW_BYTES, create_faust_app
from enginewatch.points import Origin, Point, encode_archive
from enginewatch.settings import Settings

# Stable names: a table's name is part of its changelog topic, so renaming it loses state.
CARRIED_TABLE = "carried-amounts"
BY_ENGINE_TOPIC = "by-engine"
ORIGIN_HEADER = "enginewatch-origin"
STAGE = "agents"

# A batch is what arrived within BATCH_SECONDS, at most BATCH_EVENTS events: a
# full batch under load, a short wait when the stream is quiet.
BATCH_EVENTS = 1000
BATCH_SECONDS = 0.05
# An archive message holds the points of at most this much input, far below
# Kafka's default 1 MiB message size limit.
GROUP_INPUT_BYTES = 128 * 1024


def create_agents_app(settings: Settings, resolver: Resolver) -> faust.App:
    app = create_faust_app(settings, "agents", topic_partitions=settings.partitions)
    input_topic = app.topic(settings.input_topic, **RAW_BYTES)
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

    async def route_by_engine(stream: faust.StreamT[bytes]) -> None:
        async for events in _batches(stream):
            sent = []
            for event in events:
                origin = _origin(event)
                engine = engine_of(event.value)
                if isinstance(engine, Rejected):
                    await reject(engine.reason, origin, event.value)
                    continue
                header = {ORIGIN_HEADER: _pack(origin)}
                sent.append(
                    await app.producer.send(
                        by_engine.get_topic_name(), engine.encode(), event.value, None, None, header
                    )
                )
            await _delivered(sent)

    async def derive(stream: faust.StreamT[bytes]) -> None:
        async for events in _batches(stream):
            groups = ArchiveGroups(GROUP_INPUT_BYTES)
            for event in events:
                _make_current(event)
                origin = _unpack(event.headers.get(ORIGIN_HEADER)) or _origin(event)
                outcome = handle(event.value, resolver.model_for, carried)
                if isinstance(outcome, Accepted):
                    groups.add(outcome.engine, outcome.points, origin, len(event.value or b""))
                else:
                    await reject(outcome.reason, origin, event.value)
            sent = [
                await app.producer.send(settings.archive_topic, key, value, None, None, None)
                for key, value in groups.messages()
            ]
            await _delivered(sent)

    if settings.input_keyed_by_engine:
        app.agent(input_topic, name="derive")(derive)
    else:
        app.agent(input_topic, name="route-by-engine")(route_by_engine)
        app.agent(by_engine, name="derive")(derive)

    async def keep_models_fresh() -> None:
        await resolver.keep_fresh()

    app.task(keep_models_fresh)

    return app


@dataclass(slots=True)
class _Group:
    origin: Origin  # of the group's first input message
    points: list[Point] = field(default_factory=list)
    input_bytes: int = 0


class ArchiveGroups:
    """One batch's points as archive messages: one per engine, its points in order.

    An engine's group is closed, and a new one begun, when the input behind
    it would pass `max_input_bytes`. Messages come out keyed by engine, an
    engine's in the order of its input, so they stay in order on its partition.
    """

    def __init__(self, max_input_bytes: int) -> None:
        self.max_input_bytes = max_input_bytes
        self._open: dict[str, _Group] = {}
        self._closed: list[tuple[bytes, bytes]] = []

    def add(self, engine: str, points: Sequence[Point], origin: Origin, input_bytes: int) -> None:
        if not points:  # an empty gauge list yields no point, and no message
            return
        group = self._open.get(engine)
        if group is not None and group.input_bytes + input_bytes > self.max_input_bytes:
            self._closed.append(_message(engine, group))
            group = None
        if group is None:
            group = self._open[engine] = _Group(origin)
        group.points.extend(points)
        group.input_bytes += input_bytes

    def messages(self) -> list[tuple[bytes, bytes]]:
        """(key, value) of every archive message, closed groups first."""
        return self._closed + [_message(engine, group) for engine, group in self._open.items()]


def _message(engine: str, group: _Group) -> tuple[bytes, bytes]:
    return engine.encode(), encode_archive(group.points, group.origin)


async def _delivered(sent: Sequence[Awaitable[object]]) -> None:
    """Wait until the broker has the batch's messages; a failure stops the agent loudly."""
    await asyncio.gather(*sent)


def _batches(stream: faust.StreamT[bytes]) -> AsyncIterator[Sequence[faust.EventT[bytes]]]:
    # The agent is given a faust.Stream; its interface StreamT lacks take_events.
    return cast(faust.Stream[bytes], stream).take_events(BATCH_EVENTS, BATCH_SECONDS)


def _make_current(event: faust.EventT[bytes]) -> None:
    """A table write finds its changelog partition through Faust's current event,
    which take_events leaves unset (faust-streaming issue #497)."""
    _current_event.set(weakref.ref(event))


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
