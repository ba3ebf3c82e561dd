"""The agents' Faust wiring: topics, the carried-amounts table and two thin agents.

    input --route-by-engine--> {app}-by-engine (keyed by src) --derive--> archive
      \\--> dead-letters

`route-by-engine` validates each message and re-keys it by its engine, so all
messages of an engine meet in one partition, where `derive` keeps the engine's
carried amounts in a changelog-backed table. With input_keyed_by_engine set,
the input already is keyed that way and `derive` reads it directly.

Faust costs a fixed amount per event and more again per `Topic.send`, far more
than the derivation itself, so both agents take their events in batches and
hand their messages straight to the producer, awaiting delivery once per
batch, and both send one message per engine and batch:

- on `{app}-by-engine`, the engine's input messages of the batch, byte for
  byte one after the other, with their origins and lengths in a header;
- on the archive topic, the engine's points of the batch, in order (an
  ordinary archive message: its `origin` is the group's first input message).

docs/benchmarks.md has the figures.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, cast

import faust
import orjson
from faust.streams import _current_event

from agents.pipeline import Rejected, engine_of, handle
from agents.resolve.resolver import Resolver
from enginewatch.core.deadletters import dead_letter
from enginewatch.core.faustapp import RAW_BYTES, create_faust_app
from enginewatch.core.points import Origin, Point, encode_archive
from enginewatch.core.settings import Settings

# Stable names: a table's name is part of its changelog topic, so renaming it loses state.
CARRIED_TABLE = "carried-amounts"
BY_ENGINE_TOPIC = "by-engine"
ORIGIN_HEADER = "enginewatch-origin"
STAGE = "agents"

# A batch is what arrived within BATCH_SECONDS, at most BATCH_EVENTS events: a
# full batch under load, a short wait when the stream is quiet.
BATCH_EVENTS = 1000
BATCH_SECONDS = 0.05
# A grouped message carries at most this many input messages and this much
# input, far below Kafka's default 1 MiB message size limit. By-engine groups
# stay small, as `derive` takes BATCH_EVENTS of them at once. Archive groups are
# larger: the archiver pays Faust's cost per message, so fewer and larger
# messages let it drain a backlog faster (docs/benchmarks.md).
BY_ENGINE_GROUP_INPUTS = 50
ARCHIVE_GROUP_INPUTS = 500
GROUP_INPUT_BYTES = 128 * 1024

T = TypeVar("T")
Message = tuple[bytes, bytes, dict[str, bytes] | None]  # key, value, headers


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

    async def reject(reason: str, origin: Origin, value: bytes | None) -> None:
        await dead_letters.send(value=dead_letter(reason, origin, value, STAGE))

    async def send(topic: str, messages: list[Message]) -> None:
        """Hand the batch's messages to the producer; return once the broker has them all."""
        sent = [await app.producer.send(topic, k, v, None, None, h) for k, v, h in messages]
        # A failure raises here, and Faust logs the agent's crash and restarts it.
        await asyncio.gather(*sent)

    async def route_by_engine(stream: faust.StreamT[bytes]) -> None:
        async for events in _batches(stream):
            groups: EngineGroups[bytes] = EngineGroups(BY_ENGINE_GROUP_INPUTS, GROUP_INPUT_BYTES)
            for event in events:
                origin, value = _origin(event), event.value
                engine = engine_of(value)
                if isinstance(engine, Rejected):
                    await reject(engine.reason, origin, value)
                else:
                    assert value is not None  # engine_of rejects an empty value
                    groups.add(engine, origin, value, len(value))
            await send(by_engine.get_topic_name(), groups.messages(_by_engine_message))

    async def derive(stream: faust.StreamT[bytes]) -> None:
        model_for = resolver.model_for
        async for events in _batches(stream):
            groups: EngineGroups[list[Point]] = EngineGroups(
                ARCHIVE_GROUP_INPUTS, GROUP_INPUT_BYTES
            )
            for event in events:
                _make_current(event)
                for origin, value in _inputs(event):
                    outcome = handle(value, model_for, carried)
                    if isinstance(outcome, Rejected):
                        await reject(outcome.reason, origin, value)
                    elif outcome.points:  # an empty gauge list yields no point, no message
                        groups.add(outcome.engine, origin, outcome.points, len(value or b""))
            await send(settings.topics.archive_topic, groups.messages(archive_message))

    if settings.topics.input_keyed_by_engine:
        app.agent(input_topic, name="derive")(derive)
    else:
        app.agent(input_topic, name="route-by-engine")(route_by_engine)
        app.agent(by_engine, name="derive")(derive)

    async def keep_models_fresh() -> None:
        await resolver.keep_fresh()

    app.task(keep_models_fresh)

    return app


@dataclass(slots=True)
class _Group(Generic[T]):
    entries: list[tuple[Origin, T]] = field(default_factory=list)
    input_bytes: int = 0


class EngineGroups(Generic[T]):
    """One batch's items, grouped per engine in their order.

    An engine's group is closed, and a new one begun, when it holds
    `max_inputs` items or the input behind it would pass `max_input_bytes`.
    `messages` returns an engine's groups in order, so, sent keyed by engine,
    they stay in order on its partition.
    """

    def __init__(self, max_inputs: int, max_input_bytes: int) -> None:
        self.max_inputs = max_inputs
        self.max_input_bytes = max_input_bytes
        self._open: dict[str, _Group[T]] = {}
        self._closed: list[tuple[str, _Group[T]]] = []

    def add(self, engine: str, origin: Origin, item: T, input_bytes: int) -> None:
        group = self._open.get(engine)
        if group is not None and (
            len(group.entries) == self.max_inputs
            or group.input_bytes + input_bytes > self.max_input_bytes
        ):
            self._closed.append((engine, group))
            group = None
        if group is None:
            group = self._open[engine] = _Group()
        group.entries.append((origin, item))
        group.input_bytes += input_bytes

    def messages(self, encode: Callable[[str, list[tuple[Origin, T]]], Message]) -> list[Message]:
        groups = [*self._closed, *self._open.items()]
        return [encode(engine, group.entries) for engine, group in groups]


def _by_engine_message(engine: str, entries: list[tuple[Origin, bytes]]) -> Message:
    """The engine's input messages one after the other; the header says where each
    came from and how long it is, so `derive` takes them apart byte for byte."""
    header = [[o.topic, o.partition, o.offset, len(value)] for o, value in entries]
    value = b"".join(value for _, value in entries)
    return engine.encode(), value, {ORIGIN_HEADER: orjson.dumps(header)}


def archive_message(engine: str, entries: list[tuple[Origin, list[Point]]]) -> Message:
    points = [point for _, group in entries for point in group]
    return engine.encode(), encode_archive(points, entries[0][0]), None


def _inputs(event: faust.EventT[bytes]) -> Iterator[tuple[Origin, bytes | None]]:
    """The input messages an event holds: a group from route-by-engine, or itself."""
    value = event.value
    header = event.headers.get(ORIGIN_HEADER)
    if header is None or value is None:
        yield _origin(event), value
        return
    entries: list[Any] = orjson.loads(header)
    start = 0
    for topic, partition, offset, length in entries:
        yield Origin(topic, partition, offset), value[start : start + length]
        start += length


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
