"""The private Faust API of enginewatch/core/faust_private.py still behaves as relied on.

These fail when faust-streaming changes: the context variable moves or changes
kind, take_events starts setting the current event itself (issue #497 fixed:
the workaround can go), a table write stops finding its changelog partition
through the current event, or the consumer stops committing past gaps and
unacknowledged offsets (the replacements can go). An app with
`store="memory://"` is driven in-process through an agent's test context: no
broker is contacted.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import uuid
from typing import Any

import faust
import faust.streams
import pytest
from faust.tables.recovery import Recovery
from faust.transport.consumer import Consumer
from faust.types import TP, Message
from faust.types.tuples import ConsumerMessage

from enginewatch.core import faust_private
from enginewatch.core.continuity import SkippedInputError
from enginewatch.core.faust_private import (
    REPLACED,
    acknowledge,
    commit_only_acknowledged_offsets,
    keep_skipped_messages_unacknowledged,
    make_current,
    take_unacked_batches,
)
from enginewatch.core.faustapp import RAW_BYTES

PARTITIONS = 4
OUTSIDE = "Cannot modify table key from outside of stream iteration"


def _offline_app() -> faust.App:
    """An app driven in-process: no broker is ever contacted, nothing is started."""
    return faust.App(
        f"faust-private-{uuid.uuid4().hex}",
        broker="kafka://127.0.0.1:1",
        store="memory://",
        web_enabled=False,
        autodiscover=False,
    )


def test_the_current_event_is_a_context_variable() -> None:
    assert isinstance(faust.streams._current_event, contextvars.ContextVar)


def test_noack_take_and_ack_are_on_the_stream_not_on_its_interface() -> None:
    assert callable(getattr(faust.Stream, "noack_take", None))
    assert callable(getattr(faust.Stream, "ack", None))
    assert not hasattr(faust.StreamT, "noack_take"), "StreamT declares it now: drop the cast"


def test_make_current_is_what_current_event_returns() -> None:
    async def check() -> None:
        app = faust.App(f"faust-private-{uuid.uuid4().hex}", store="memory://")
        channel = app.channel()
        event = await channel.decode(_message("input", 2, b"k"))
        make_current(event)
        assert faust.streams.current_event() is event

    asyncio.run(check())


def _message(topic: str, partition: int, key: bytes) -> Message:
    return Message(
        topic=topic,
        partition=partition,
        offset=0,
        timestamp=0.0,
        timestamp_type=0,
        headers={},
        key=key,
        value=b"v",
        checksum=b"",
    )


def _write_per_event(made_current: bool) -> tuple[list[str], dict[Any, Any], list[tuple[Any, ...]]]:
    """An agent taking unacknowledged batches writes one table key per event.

    Returns what each write did, the table's contents and the messages handed
    to the producer: (whether to the table's changelog, partition, key).
    """

    async def run() -> tuple[list[str], dict[Any, Any], list[tuple[Any, ...]]]:
        app = _offline_app()
        table = app.Table("carried", default=dict, partitions=PARTITIONS)
        outcomes: list[str] = []

        async def writer(stream: faust.StreamT[bytes]) -> None:
            async for events in take_unacked_batches(stream, 10, 0.05):
                for event in events:
                    if made_current:
                        make_current(event)
                    try:
                        table[event.key] = {"amount": 1.0}
                    except TypeError as exc:
                        outcomes.append(str(exc))
                    else:
                        outcomes.append("written")
                await acknowledge(stream, events)

        agent = app.agent(app.topic("input", **RAW_BYTES), name="writer")(writer)
        async with agent.test_context() as tested:
            await tested.put(b"v", key=b"k1", partition=3, wait=False)
            await tested.put(b"v", key=b"k2", partition=1, wait=False)
            for _ in range(200):
                if len(outcomes) == 2:
                    break
                await asyncio.sleep(0.01)
        pending = app.producer.buffer.pending
        changelog = []
        while not pending.empty():
            message = pending.get_nowait().message
            to_changelog = message.channel.get_topic_name() == table.changelog_topic_name
            changelog.append((to_changelog, message.partition, message.key))
        return outcomes, dict(table.data), changelog

    return asyncio.run(run())


def test_a_table_write_in_a_batch_fails_without_a_current_event() -> None:
    outcomes, contents, changelog = _write_per_event(made_current=False)
    assert outcomes == [OUTSIDE, OUTSIDE], "batches set the current event now (#497)"
    assert contents == {}
    assert changelog == []


def test_a_table_write_in_a_batch_lands_on_its_events_partition_when_made_current() -> None:
    outcomes, contents, changelog = _write_per_event(made_current=True)
    assert outcomes == ["written", "written"]
    assert contents == {b"k1": {"amount": 1.0}, b"k2": {"amount": 1.0}}
    assert changelog == [(True, 3, b"k1"), (True, 1, b"k2")]


def test_a_batch_is_acknowledged_only_when_told() -> None:
    """noack_take leaves every event unacknowledged, even after the loop moves on
    or raises; acknowledge() acknowledges them."""

    async def run() -> list[tuple[bool, ...]]:
        app = _offline_app()
        seen: list[tuple[bool, ...]] = []
        held: list[Any] = []

        async def taker(stream: faust.StreamT[bytes]) -> None:
            async for events in take_unacked_batches(stream, 2, 0.05):
                held.extend(events)
                if len(held) == 2:  # in one batch or two, none acknowledged so far
                    seen.append(tuple(e.message.acked for e in held))
                    await acknowledge(stream, held[:1])
                    seen.append(tuple(e.message.acked for e in held))
                    raise RuntimeError("the loop body failed")

        agent = app.agent(app.topic("input", **RAW_BYTES), name="taker")(taker)
        async with agent.test_context() as tested:
            await tested.put(b"v", key=b"k1", partition=0, wait=False)
            await tested.put(b"v", key=b"k2", partition=0, wait=False)
            for _ in range(200):
                if len(seen) >= 2:
                    break
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.1)
        seen.append(tuple(e.message.acked for e in held))
        return seen

    assert asyncio.run(run()) == [(False, False), (True, False), (True, False)]


def _consumer_message(offset: int) -> ConsumerMessage:
    return ConsumerMessage("input", 0, offset, 0.0, 0, {}, b"k", b"v", b"")


def test_a_stream_still_acknowledges_the_messages_it_skips() -> None:
    """The behaviour keep_skipped_messages_unacknowledged guards against: gone, the
    guard can go too."""
    source = inspect.getsource(faust.Stream._py_aiter)
    assert "value = skipped_value" in source
    assert "do_ack or value is skipped_value" in source


def test_the_acknowledgement_of_a_message_no_stream_took_is_dropped() -> None:
    keep_skipped_messages_unacknowledged()
    keep_skipped_messages_unacknowledged()  # idempotent: one wrapper, not two
    app = _offline_app()
    # The conductor acknowledges the topics the app subscribes to; a started app
    # indexes them itself.
    app.topics.add(app.topic("input", **RAW_BYTES))
    asyncio.run(app.topics._update_indices())
    consumer = app.consumer
    consumer._committed_offset[TP("input", 0)] = 0  # as after an assignment
    skipped, taken = _consumer_message(7), _consumer_message(8)
    taken.tracked = True  # what a stream does to a message it yields
    assert not skipped.ack(consumer), "the skipped message's offset must not count as done"
    assert taken.ack(consumer)
    assert consumer._acked[TP("input", 0)] == [8]


def _patched_consumer() -> Any:
    commit_only_acknowledged_offsets()
    commit_only_acknowledged_offsets()  # idempotent
    return _offline_app().consumer


INPUT = TP("input", 0)


def test_faust_commits_past_an_offset_no_stream_acknowledged() -> None:
    """What commit_only_acknowledged_offsets replaces: one unacknowledged offset after
    the committed one passes Faust's head check, and any does when nothing was
    committed. Fixed, the replacement can go."""
    consumer = _patched_consumer()
    faust_new_offset = REPLACED["_new_offset"]
    consumer._committed_offset[INPUT] = 10
    consumer._acked[INPUT] = [11, 12]
    assert faust_new_offset(consumer, INPUT) == 13, "offset 10 was never acknowledged"
    consumer._committed_offset[INPUT] = None
    consumer._acked[INPUT] = [11, 12]
    assert faust_new_offset(consumer, INPUT) == 13


def test_faust_counts_a_jump_in_fetched_offsets_as_done() -> None:
    drain = inspect.getsource(Consumer._drain_messages)
    assert "await self._add_gap(tp, r_offset + 1, offset)" in drain
    assert "DROPPED MESSAGE ROFF" in drain, "the fetch loop drops messages below its read offset"
    recovery = inspect.getsource(Recovery.on_recovery_completed)
    resumed, sought = recovery.index("consumer.resume_partitions("), recovery.index("perform_seek")
    assert resumed < sought, "stream partitions are resumed before the seek to the commit"


def test_a_commit_stops_at_the_first_offset_no_stream_acknowledged() -> None:
    consumer = _patched_consumer()
    consumer._committed_offset[INPUT] = 10
    consumer._acked[INPUT] = [12, 11]
    assert consumer._new_offset(INPUT) is None
    consumer._acked[INPUT] += [10, 14]
    assert consumer._new_offset(INPUT) == 13
    assert consumer._acked[INPUT] == [14], "what is committed leaves the pending list"


def test_nothing_is_committed_while_the_committed_offset_is_unknown() -> None:
    consumer = _patched_consumer()
    consumer._acked[INPUT] = [0, 1, 2]
    assert consumer._new_offset(INPUT) is None
    consumer._committed_offset[INPUT] = 0  # learnt from the broker at the seek
    assert consumer._new_offset(INPUT) == 3


def test_repeats_below_the_commit_are_dropped() -> None:
    consumer = _patched_consumer()
    consumer._committed_offset[INPUT] = 5
    consumer._acked[INPUT] = [3, 4, 5, 5, 6]
    assert consumer._new_offset(INPUT) == 7
    assert consumer._acked[INPUT] == []


def test_a_gap_in_fetched_offsets_is_never_counted_as_done() -> None:
    consumer = _patched_consumer()
    consumer._committed_offset[INPUT] = 10
    asyncio.run(consumer._add_gap(INPUT, 11, 20))
    consumer._acked[INPUT] = [10, 21]
    assert consumer._new_offset(INPUT) == 11


def test_a_batch_after_a_gap_stops_the_worker_and_is_not_handed_out() -> None:
    async def run() -> tuple[list[int], BaseException | None]:
        app = _offline_app()
        handed: list[int] = []

        async def taker(stream: faust.StreamT[bytes]) -> None:
            async for events in take_unacked_batches(stream, 10, 0.05):
                handed.extend(e.message.offset for e in events)
                await acknowledge(stream, events)

        agent = app.agent(app.topic("input", **RAW_BYTES), name="taker")(taker)
        async with agent.test_context() as tested:
            await tested.put(b"v", key=b"k", partition=0, wait=False)  # offset 0
            for _ in range(100):
                if handed:
                    break
                await asyncio.sleep(0.01)
            tested.sent_offset += 3  # offsets 1 to 3 never come
            await tested.put(b"v", key=b"k", partition=0, wait=False)
            for _ in range(100):
                if app.crash_reason is not None:
                    break
                await asyncio.sleep(0.01)
        return handed, app.crash_reason

    handed, crashed = asyncio.run(run())
    assert handed == [0]
    assert isinstance(crashed, SkippedInputError)
    assert "offsets 1 to 3 never reached this worker" in str(crashed)


def test_a_worker_waiting_while_its_partition_holds_unread_input_stops(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Input lost with nothing after it: the broker's end is past what the agent
    was handed, and it waits. Two checks in a row see it; then the worker stops."""
    monkeypatch.setattr(faust_private, "UNREAD_SECONDS", 0.2)
    monkeypatch.setattr(faust_private, "UNREAD_CHECK_SECONDS", 0.05)

    async def run() -> tuple[list[int], BaseException | None]:
        app = _offline_app()
        handed: list[int] = []
        input_tp = TP("input", 0)

        async def ends(*tps: TP) -> dict[TP, int]:
            return {tp: 4 for tp in tps}  # offsets 1 to 3 are on the broker

        monkeypatch.setattr(app.consumer, "highwaters", ends)
        monkeypatch.setattr(app.assignor, "assigned_actives", lambda: {input_tp})

        async def taker(stream: faust.StreamT[bytes]) -> None:
            async for events in take_unacked_batches(stream, 10, 0.05):
                handed.extend(e.message.offset for e in events)
                await acknowledge(stream, events)

        agent = app.agent(app.topic("input", **RAW_BYTES), name="taker")(taker)
        async with agent.test_context() as tested:
            await tested.put(b"v", key=b"k", partition=0, wait=False)  # offset 0 only
            for _ in range(200):
                if app.crash_reason is not None:
                    break
                await asyncio.sleep(0.01)
        return handed, app.crash_reason

    handed, crashed = asyncio.run(run())
    assert handed == [0]
    assert isinstance(crashed, SkippedInputError)
    assert "input/0: offsets 1 to 3 are on the broker" in str(crashed)


def test_a_partition_without_a_commit_is_not_sought_by_seek_to_committed() -> None:
    """What commit_only_acknowledged_offsets' seek makes up for: aiokafka seeks only
    partitions with a commit above 0, so one without stays where the fetches before
    the seek left it, past what no stream took. Changed, the extra seek can go."""
    from aiokafka import AIOKafkaConsumer

    source = inspect.getsource(AIOKafkaConsumer.seek_to_committed)
    assert "if offset and offset > 0:" in source
