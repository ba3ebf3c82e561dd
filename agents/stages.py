"""The agents' two stages, pure functions over one batch of input records.

    route_by_engine: inputs -> by-engine messages (keyed by src) + rejects
    derive_archive:  by-engine messages, or inputs keyed by src -> archive messages + rejects

Each returns the messages to send on its output topic and the rejects for the
dead letters, both in input order; the Faust wiring (agents/app.py) only sends
them. Both send one message per engine and batch, as Faust and the archiver
pay mostly per message:

- route_by_engine: the engine's valid input messages of the batch, framed by
  agents/by_engine.py;
- derive_archive: the engine's points of the batch, in order (an ordinary
  archive message: its `origin` is the group's first input message).

Each engine's state (agents/state.py) comes from a mapping keyed by engine
(the Faust table in production, a dict in tests), read only; the new states
come back with the output, to be kept once it is delivered.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from agents import by_engine
from agents.derive import reported_state
from agents.grouping import EngineGroups
from agents.messages import EngineState, OutputReport
from agents.messages import Message as ParsedMessage
from agents.pipeline import Rejected, derive_input, engine_of, parse_input
from agents.records import Input, Message, Reject
from agents.resolve.resolver import UNKNOWN
from agents.silence import Heard
from agents.state import CarryState
from agents.tutorial import tutorial_points
from enginewatch.core.points import Origin, Point, encode_archive, tag_value_problem
from enginewatch.core.settings import UnknownTypes

# A grouped message carries at most this many input messages and this much
# input, far below Kafka's default 1 MiB message size limit. By-engine groups
# stay small, as `derive` takes a whole batch (agents.app.BATCH_EVENTS) of them
# at once. Archive groups are larger: the archiver pays Faust's cost per
# message, so fewer and larger messages let it drain a backlog faster
# (docs/benchmarks.md).
BY_ENGINE_GROUP_INPUTS = 50
ARCHIVE_GROUP_INPUTS = 500
GROUP_INPUT_BYTES = 128 * 1024
# Every archive message stays below the producer's 1 000 000-byte limit.
MAX_ARCHIVE_BYTES = 900_000
LARGE_INPUT_BYTES = 64 * 1024
MANY_POINTS = 100


@dataclass(frozen=True, slots=True)
class StageOutput:
    """What one batch gives: messages for the stage's output topic, and the rejects."""

    messages: list[Message]
    rejects: list[Reject]


def route_by_engine(batch: Iterable[Input], unknown: UnknownTypes = "count") -> StageOutput:
    """Check each input message and group the valid ones by their engine (`src`).

    Invalid input is rejected here, at the edge, with the reason `derive_archive`
    would give it with nothing carried, so only valid messages take the extra hop.
    """
    groups: EngineGroups[bytes] = EngineGroups(BY_ENGINE_GROUP_INPUTS, GROUP_INPUT_BYTES)
    rejects: list[Reject] = []
    for origin, _, value, _ in batch:
        engine = engine_of(value, unknown)
        if isinstance(engine, Rejected):
            rejects.append(Reject(origin, engine.reason, value))
        else:
            assert value is not None  # engine_of rejects an empty value
            groups.add(engine, origin, value, len(value))
    return StageOutput(groups.messages(by_engine.encode), rejects)


@dataclass(frozen=True, slots=True)
class DeriveOutput(StageOutput):
    """A derive batch's messages and rejects, and the engine states to keep once
    the messages are on the broker: engine -> (index in the batch of a record of
    that engine, its new state). The record tells the Faust wiring which
    partition's changelog the state belongs to. `heard`: each message applied,
    in order, for the silent-engine watch (agents/silence.py)."""

    states: dict[str, tuple[int, CarryState]]
    heard: list[Heard] = field(default_factory=list)


def derive_archive(
    batch: Iterable[Input],
    model_for: Callable[[str], str],
    states: Mapping[str, Any],
    unknown: UnknownTypes = "count",
    tutorial_names: bool = False,
) -> DeriveOutput:
    """Each input message's points, in archive messages per engine, and the rejects.

    A record is a by-engine message (several input messages) or one input
    message; one whose framing cannot be decoded is rejected whole. `states`
    (the table, read only) holds each engine's state as `CarryState.to_table`
    wrote it. An input the state says was applied already is skipped: its
    points were delivered before a crash, a rebalance or a duplicate. The new
    states are returned, not written: they may be kept only once the points
    they stand for are delivered.
    """
    groups: EngineGroups[list[Point]] = EngineGroups(ARCHIVE_GROUP_INPUTS, GROUP_INPUT_BYTES)
    rejects: list[Reject] = []
    current: dict[str, CarryState] = {}
    changed: dict[str, int] = {}
    heard: list[Heard] = []
    for index, record in enumerate(batch):
        try:
            inputs = by_engine.decode(record)
        except by_engine.ByEngineFormatError as exc:
            rejects.append(
                Reject(record.origin, f"malformed by-engine framing: {exc}", record.value)
            )
            continue
        for origin, value in inputs:
            message = parse_input(value, unknown)
            if isinstance(message, Rejected):
                rejects.append(Reject(origin, message.reason, value))
                continue
            engine = message.src
            state = current.get(engine) or CarryState.from_table(states.get(engine))
            if state.has_applied(origin):
                continue
            reported = _reported_model(message)
            derived = derive_input(
                message,
                _falling_back_to(model_for, reported or state.reported_model),
                state.carried,
            )
            if isinstance(derived, Rejected):
                rejects.append(Reject(origin, derived.reason, value))
                continue
            if (too_large := _too_large(value, derived.points)) is not None:
                rejects.append(Reject(origin, too_large, value))
                continue
            current[engine] = state.after(origin, derived.carried, reported)
            heard.append(Heard(engine, record.origin.partition, message.time, _state_of(message)))
            renamed = reported is not None and reported != state.reported_model
            if derived.carried is not None or renamed or engine in changed:
                # Kept with every input applied since: all their points go out with it.
                changed[engine] = index
            points = derived.points
            if tutorial_names:
                points = [*points, *tutorial_points(points)]
            if points:  # an empty gauge list yields no point, no message
                groups.add(engine, origin, points, len(value or b""))
    kept = {engine: (index, current[engine]) for engine, index in changed.items()}
    messages = [m for engine, entries in groups.groups() for m in archive_messages(engine, entries)]
    return DeriveOutput(messages, rejects, kept, heard)


def _state_of(message: ParsedMessage) -> tuple[str, int] | None:
    return reported_state(message) if isinstance(message, EngineState) else None


def _reported_model(message: ParsedMessage) -> str | None:
    """The model an output report names, if it is one line protocol can carry."""
    if not isinstance(message, OutputReport) or message.model is None:
        return None
    return message.model if tag_value_problem(message.model) is None else None


def _falling_back_to(model_for: Callable[[str], str], reported: str | None) -> Callable[[str], str]:
    """Model names from the configured sources, else the one the engine reported."""
    if reported is None:
        return model_for

    def model_of(engine: str) -> str:
        name = model_for(engine)
        return reported if name == UNKNOWN else name

    return model_of


def archive_message(engine: str, entries: list[tuple[Origin, list[Point]]]) -> Message:
    """One engine's points of a batch, in order, as one archive message keyed by the engine."""
    points = [point for _, group in entries for point in group]
    return engine.encode(), encode_archive(points, entries[0][0]), None


def archive_messages(engine: str, entries: list[tuple[Origin, list[Point]]]) -> list[Message]:
    """`archive_message`, split in halves, in order, until each fits MAX_ARCHIVE_BYTES.

    Groups close by input bytes, which bounds their points closely but not
    exactly; the split makes the bound exact. One input's points always fit
    (`_too_large` rejected them otherwise).
    """
    message = archive_message(engine, entries)
    if len(message[1]) <= MAX_ARCHIVE_BYTES or len(entries) == 1:
        return [message]
    half = len(entries) // 2
    return archive_messages(engine, entries[:half]) + archive_messages(engine, entries[half:])


def _too_large(value: bytes | None, points: list[Point]) -> str | None:
    """Why an input's points cannot travel in one archive message, if they cannot.

    A point takes its input's text plus a few hundred bytes of names, so only a
    large input, or one of many points, needs measuring.
    """
    if len(value or b"") < LARGE_INPUT_BYTES and len(points) < MANY_POINTS:
        return None
    size = len(encode_archive(points))
    if size <= MAX_ARCHIVE_BYTES:
        return None
    return f"its points take {size} bytes, more than the {MAX_ARCHIVE_BYTES} of an archive message"
