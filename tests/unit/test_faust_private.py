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
import contextlib
import contextvars
import gc
import inspect
import typing
import uuid
from typing import Any

import faust
import faust.streams
import pytest
from faust.tables.recovery import Recovery
from faust.transport.consumer import Consumer
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
from faust.types import TP, Message
from faust.types.tuples import ConsumerMessage

from enginewatch.core import faust_private
from enginewatch.core.bulk import Batch, Chunk, ChunkBuffer
from enginewatch.core.continuity import SkippedInputError
from enginewatch.core.faust_private import (
    FETCH_MAX_WAIT_MS,
    REPLACED,
    acknowledge,
    acknowledge_batch,
    commit_only_acknowledged_offsets,
    keep_skipped_messages_unacknowledged,
    make_current,
    make_record_current,
    read_in_bulk,
    shorten_fetch_wait,
    take_bulk_batches,
    take_unacked_batches,
)
from enginewatch.core.faustapp import RAW_BYTES
from tests.support.records import FakeRecord

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
        changelog = _sent_changelog(app, table)
        return outcomes, dict(table.data), changelog

    return asyncio.run(run())


def _sent_changelog(app: faust.App, table: Any) -> list[tuple[bool, int | None, Any]]:
    """What the producer holds to send: whether each goes to the table's changelog,
    its partition and its key (taken off the producer's buffer)."""
    pending = app.producer.buffer.pending
    sent = []
    while not pending.empty():
        message = pending.get_nowait().message
        to_changelog = message.channel.get_topic_name() == table.changelog_topic_name
        sent.append((to_changelog, message.partition, message.key))
    return sent


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


# Input read in bulk: the consumer hands a topic's fetches to a buffer before they
# reach the conductor, and batches of them are acknowledged where Faust's commits
# look (read_in_bulk, take_bulk_batches, acknowledge_batch).

BULK = TP("bulk-input", 0)
OTHER = TP("other-input", 0)


def _records(tp: TP, *offsets: int) -> list[FakeRecord]:
    return [FakeRecord(tp.topic, tp.partition, offset, 0, b"k", b"v") for offset in offsets]


def _bulk_chunk(tp: TP, *offsets: int, generation: int = 0) -> Chunk:
    return Chunk(tp.topic, tp.partition, generation, _records(tp, *offsets))


def _acking_app(*topics: str) -> faust.App:
    """An offline app whose conductor acknowledges these topics (as a started app's
    does the topics its agents read)."""
    app = _offline_app()
    for name in topics:
        app.topics.add(app.topic(name, **RAW_BYTES))
    asyncio.run(app.topics._update_indices())
    return app


def test_an_acknowledged_batch_is_committed_as_far_as_it_runs_on() -> None:
    """acknowledge_batch leaves the offsets where Consumer._new_offset, the commit's
    look-up, finds them; offsets below the commit and repeats count for nothing,
    nor do topics the conductor does not acknowledge."""
    commit_only_acknowledged_offsets()
    app = _acking_app(BULK.topic)
    consumer: Any = app.consumer
    stream = app.topic(BULK.topic, **RAW_BYTES).stream()
    consumer._committed_offset[BULK] = 10
    consumer._committed_offset[OTHER] = 0
    batch = Batch([_bulk_chunk(BULK, *range(8, 15)), _bulk_chunk(OTHER, 0, 1)])
    asyncio.run(acknowledge_batch(stream, batch))
    asyncio.run(acknowledge_batch(stream, batch))  # acknowledged again: nothing new
    assert consumer._n_acked == 5, "offsets 10 to 14, once"
    assert sorted(consumer._acked[BULK]) == [10, 11, 12, 13, 14]
    assert consumer._acked[OTHER] == [], "acks are not enabled for that topic"
    assert consumer._new_offset(BULK) == 15
    assert consumer._new_offset(OTHER) is None


def test_acknowledging_a_batch_keeps_the_books_as_consumer_ack_does_per_message() -> None:
    """The same batches acknowledged with acknowledge_batch, and message by message
    with Faust's own Consumer.ack: the consumers end up with the same pending
    offsets and counts. Faust changing what ack records shows here."""
    runs = [(8, 9, 10, 11), (11, 12, 13), (13, 14), (20, 21)]
    by_batch, by_message = _acking_app(BULK.topic), _acking_app(BULK.topic)
    stream = by_batch.topic(BULK.topic, **RAW_BYTES).stream()
    for app in (by_batch, by_message):
        app.consumer._committed_offset[BULK] = 10  # type: ignore[attr-defined]
    for offsets in runs:
        asyncio.run(acknowledge_batch(stream, Batch([_bulk_chunk(BULK, *offsets)])))
        for offset in offsets:
            message = ConsumerMessage(
                BULK.topic, BULK.partition, offset, 0.0, 0, {}, b"k", b"v", b""
            )
            message.tracked = True  # as a stream marks what it yields
            by_message.consumer.ack(message)
    mine: Any = by_batch.consumer
    faust_own: Any = by_message.consumer
    assert mine._acked[BULK] == faust_own._acked[BULK]
    assert mine._acked_index[BULK] == faust_own._acked_index[BULK]
    assert mine._n_acked == faust_own._n_acked


def test_a_batch_in_flight_holds_a_rebalance_until_acknowledged() -> None:
    """take_bulk_batches puts a token among the consumer's unacknowledged messages,
    which Consumer.wait_empty waits on before a rebalance or a stop goes on;
    acknowledge_batch takes it off."""
    app = _acking_app(BULK.topic)
    consumer: Any = app.consumer
    consumer._committed_offset[BULK] = 0
    stream = app.topic(BULK.topic, **RAW_BYTES).stream()
    batch = Batch([_bulk_chunk(BULK, 0, 1, 2)])
    token = faust_private._InFlight(len(batch))
    batch.token = token
    consumer._unacked_messages.add(token)  # as take_bulk_batches does
    assert list(consumer._unacked_messages) == [token], "a WeakSet takes the token"
    asyncio.run(acknowledge_batch(stream, batch))
    assert token.acked
    assert token not in consumer._unacked_messages
    assert consumer._new_offset(BULK) == 3

    wait_empty = inspect.getsource(Consumer.wait_empty)
    assert "while not self.should_stop and self._unacked_messages:" in wait_empty, (
        "wait_empty no longer waits on _unacked_messages: a batch in flight needs "
        "another way to hold a rebalance"
    )
    assert "m.refcount" in wait_empty, "wait_empty reads what _InFlight must provide"
    clean = inspect.getsource(Consumer._clean_unacked_messages)
    assert "message.acked" in clean, "wait_empty drops the acked ones by their .acked"
    assert "self.app.conf.stream_wait_empty" in inspect.getsource(Consumer.on_stop)


HIGHWATER = 1000


def _fetching_app(capacity: int | None = None) -> faust.App:
    """An offline app whose consumer tells a fixed end offset (HIGHWATER + partition)
    for every partition, as a started one asks its fetcher."""
    app = _offline_app()
    if capacity is not None:
        app.conf.stream_buffer_maxsize = capacity
    consumer: Any = app.consumer
    consumer.highwater = lambda tp: HIGHWATER + tp.partition
    return app


def _bulk_app(capacity: int | None = None) -> faust.App:
    """An offline app reading BULK in bulk, its consumer fetching BULK and OTHER."""
    app = _fetching_app(capacity)
    read_in_bulk(app, app.topic(BULK.topic, **RAW_BYTES))
    consumer: Any = app.consumer
    consumer._active_partitions = {BULK, OTHER}
    return app


def _bulk_buffer(app: faust.App) -> ChunkBuffer:
    return faust_private._bulk_inputs(app).buffers[BULK.topic]


def _hand_over(app: faust.App, records: dict[TP, list[Any]], active: set[TP] | None) -> list[Chunk]:
    """Run _hand_over with a buffer for BULK; the chunks it buffered."""
    buffer = ChunkBuffer(100)

    async def run() -> list[Chunk]:
        faust_private._hand_over(app.consumer, records, active, {BULK.topic: buffer})
        if not len(buffer):
            return []
        take = buffer.take(len(buffer), 0, lambda: app.consumer_generation_id)
        return (await asyncio.wait_for(take, 0.5)).chunks

    return asyncio.run(run())


def test_fetches_of_a_topic_read_in_bulk_go_to_its_buffer_not_to_the_conductor() -> None:
    app = _fetching_app()
    app.consumer_generation_id = 4
    consumer: Any = app.consumer
    other = _records(OTHER, 0, 1, 2)
    records: dict[TP, list[Any]] = {BULK: _records(BULK, 5, 6, 7, 8, 9), OTHER: other}
    chunks = _hand_over(app, records, {BULK, OTHER})
    assert list(records) == [OTHER], "what stays in the dict is what the conductor gets"
    assert records[OTHER] is other
    assert len(other) == 3
    assert [(c.topic, c.partition, c.generation) for c in chunks] == [(*BULK, 4)]
    assert [r.offset for r in chunks[0].records] == [5, 6, 7, 8, 9]
    assert consumer._read_offset[BULK] == 9, "as Faust's fetch loop notes each message"
    assert consumer._read_offset[OTHER] is None, "left to Faust's fetch loop"
    # The end offset Faust's getmany tracks for each message it hands on: the lag
    # enginewatch reports is computed from it.
    assert app.monitor.tp_end_offsets == {BULK: HIGHWATER}
    getmany = inspect.getsource(Consumer.getmany)
    assert "self.app.monitor.track_tp_end_offset(tp, highwater_mark)" in getmany


def test_fetched_records_below_the_read_offset_are_not_handed_over() -> None:
    """As Faust's fetch loop drops a message below the partition's read offset, and
    hands on one at it (`offset >= r_offset`: after a seek the read offset is the
    commit, the next offset to read)."""
    app = _fetching_app()
    consumer: Any = app.consumer
    consumer._read_offset[BULK] = 7
    chunks = _hand_over(app, {BULK: _records(BULK, 5, 6, 7, 8)}, {BULK})
    assert [r.offset for c in chunks for r in c.records] == [7, 8]
    consumer._read_offset[BULK] = 9
    records: dict[TP, list[Any]] = {BULK: _records(BULK, 5, 6)}
    assert _hand_over(app, records, {BULK}) == []
    assert records == {}
    assert consumer._read_offset[BULK] == 9
    drain = inspect.getsource(Consumer._drain_messages)
    assert "if r_offset is None or offset >= r_offset:" in drain, "Faust's filter changed"


def test_nothing_is_handed_over_while_a_rebalance_holds_the_flow() -> None:
    """Faust's getmany hands on nothing of a fetch while the flow is stopped, and
    seeks back to the commits: the records are read again once it resumes."""
    app = _fetching_app()
    consumer: Any = app.consumer
    consumer.flow_active = False
    records: dict[TP, list[Any]] = {BULK: _records(BULK, 0, 1), OTHER: _records(OTHER, 0)}
    assert _hand_over(app, records, {BULK, OTHER}) == []
    assert list(records) == [OTHER], "taken out all the same: no stream may see them"
    assert consumer._read_offset[BULK] is None
    getmany = inspect.getsource(Consumer.getmany)
    assert "if self.flow_active:" in getmany
    assert "await self.perform_seek()" in getmany


def test_a_paused_partitions_fetch_is_dropped_as_faust_drops_it() -> None:
    """Faust's getmany hands on only the partitions active or stopped for a full
    buffer (or all, for a client-only app: `active` None)."""
    app = _fetching_app()
    consumer: Any = app.consumer
    records: dict[TP, list[Any]] = {BULK: _records(BULK, 0, 1)}
    assert _hand_over(app, records, {OTHER}) == []
    assert records == {}
    consumer._buffered_partitions.add(BULK)
    assert len(_hand_over(app, {BULK: _records(BULK, 0, 1)}, {OTHER})) == 1
    consumer._buffered_partitions.clear()
    consumer._read_offset.clear()
    assert len(_hand_over(app, {BULK: _records(BULK, 0, 1)}, None)) == 1
    getmany = inspect.getsource(Consumer.getmany)
    assert "or tp in active_partitions" in getmany
    assert "or tp in self._buffered_partitions" in getmany


def test_faust_hands_the_conductor_the_records_of_wait_next_records() -> None:
    """What the patched Consumer._wait_next_records relies on: getmany iterates the
    very dict it returns (so a partition taken out of it reaches no stream), and it
    returns (records, active partitions)."""
    faust_private._deliver_fetches_in_bulk()
    faust_private._deliver_fetches_in_bulk()  # idempotent
    assert REPLACED["_wait_next_records"] is not Consumer._wait_next_records
    getmany = inspect.getsource(Consumer.getmany)
    assert "records, active_partitions = await self._wait_next_records(timeout)" in getmany
    assert "self.scheduler.iterate(records)" in getmany
    faust_wait = REPLACED["_wait_next_records"]
    returned = typing.get_type_hints(faust_wait)["return"]
    assert typing.get_origin(returned) is tuple
    assert len(typing.get_args(returned)) == 2
    assert "return records, active_partitions" in inspect.getsource(faust_wait)


def test_the_patched_consumer_hands_bulk_fetches_over(monkeypatch: pytest.MonkeyPatch) -> None:
    """Through Consumer._wait_next_records as Faust's getmany calls it: the bulk topic's
    fetch is buffered, the other topic's returned; apps that read nothing in bulk
    get their fetches untouched."""
    app, plain = _bulk_app(), _fetching_app()
    plain.consumer._active_partitions = {BULK}  # type: ignore[attr-defined]
    asked: list[set[TP] | None] = []

    # Called with keywords: the names are those of Faust's _getmany.
    async def getmany(active_partitions: set[TP] | None, timeout: float) -> Any:  # noqa: ASYNC109
        asked.append(set(active_partitions or ()))
        return {BULK: _records(BULK, 0, 1), OTHER: _records(OTHER, 3)}

    for each in (app, plain):
        monkeypatch.setattr(each.consumer, "_getmany", getmany)

    async def run() -> tuple[Any, Any]:
        return (
            await app.consumer._wait_next_records(1.0),  # type: ignore[attr-defined]
            await plain.consumer._wait_next_records(1.0),  # type: ignore[attr-defined]
        )

    (records, active), (untouched, _) = asyncio.run(run())
    assert list(records) == [OTHER]
    assert active == {BULK, OTHER}
    assert asked[0] == {BULK, OTHER}
    assert len(_bulk_buffer(app)) == 2
    assert set(untouched) == {BULK, OTHER}


def test_a_full_buffer_stops_its_partitions_fetches_until_taken_from(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A fetch that fills the buffer takes its partition out of the fetches
    (Consumer.on_buffer_full); with nothing left to fetch the consumer waits until
    the agent takes enough (not Faust's second of sleep), and fetches it again."""
    app = _bulk_app(capacity=4)
    consumer: Any = app.consumer
    consumer._active_partitions = {BULK}
    monkeypatch.setattr(consumer, "assignment", lambda: {BULK})
    fetches = [{BULK: _records(BULK, 0, 1, 2, 3)}, {BULK: _records(BULK, 4)}]
    asked: list[set[TP]] = []
    slept: list[float] = []

    # Called with keywords: the names are those of Faust's _getmany.
    async def getmany(active_partitions: set[TP] | None, timeout: float) -> Any:  # noqa: ASYNC109
        asked.append(set(active_partitions or ()))
        return fetches.pop(0)

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr(consumer, "_getmany", getmany)
    monkeypatch.setattr(consumer, "sleep", sleep)
    buffer = _bulk_buffer(app)

    async def run() -> tuple[set[TP], set[TP], bool, set[TP], list[int]]:
        await consumer._wait_next_records(1.0)
        stopped = set(consumer._get_active_partitions())
        buffered = set(consumer._buffered_partitions)
        waiting = asyncio.ensure_future(consumer._wait_next_records(5.0))
        await asyncio.sleep(0.03)
        held = not waiting.done()
        taken = await asyncio.wait_for(buffer.take(4, 0, lambda: app.consumer_generation_id), 0.5)
        await asyncio.wait_for(waiting, 0.5)
        active = set(consumer._get_active_partitions())
        return stopped, buffered, held, active, [r.offset for r in taken]

    stopped, buffered, held, active, taken = asyncio.run(run())
    assert stopped == set()
    assert buffered == {BULK}
    assert held, "all partitions stopped: the consumer waits for one to go on"
    assert slept == [], "it waited for the buffer, not Faust's sleep"
    assert taken == [0, 1, 2, 3]
    assert active == {BULK}
    assert consumer._buffered_partitions == set()
    assert asked == [{BULK}, {BULK}]
    assert len(buffer) == 1


def test_while_a_partition_is_stopped_fetches_wait_briefly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A fetch asks only for the partitions active when it starts: while one is
    stopped, the others' fetches wait at most STOPPED_FETCH_SECONDS, so the stopped
    one, going on meanwhile, is asked for again soon."""
    app = _bulk_app(capacity=2)
    consumer: Any = app.consumer
    timeouts: list[float] = []

    # Called with keywords: the names are those of Faust's _getmany.
    async def getmany(active_partitions: set[TP] | None, timeout: float) -> Any:  # noqa: ASYNC109
        timeouts.append(timeout)
        return {}

    monkeypatch.setattr(consumer, "_getmany", getmany)
    monkeypatch.setattr(consumer, "assignment", lambda: {BULK, OTHER})
    buffer = _bulk_buffer(app)

    async def run() -> None:
        await consumer._wait_next_records(1.0)
        buffer.put(_bulk_chunk(BULK, 0, 1))  # full: BULK stops, OTHER fetches on
        await consumer._wait_next_records(1.0)
        buffer.clear()  # BULK goes on
        await consumer._wait_next_records(1.0)

    asyncio.run(run())
    assert timeouts == [1.0, faust_private.STOPPED_FETCH_SECONDS, 1.0]
    assert faust_private.STOPPED_FETCH_SECONDS < 1.0


def test_faust_stops_fetching_a_partition_whose_buffer_is_full() -> None:
    """What read_in_bulk's buffer calls when full and when half empty; and what the
    patch makes up for: Faust sleeps a second when every partition is stopped."""
    app = _offline_app()
    consumer: Any = app.consumer
    consumer._active_partitions = {BULK, OTHER}
    consumer.on_buffer_full(BULK)
    assert consumer._get_active_partitions() == {OTHER}
    assert consumer._buffered_partitions == {BULK}
    consumer.on_buffer_drop(BULK)
    assert consumer._get_active_partitions() == {BULK, OTHER}
    assert consumer._buffered_partitions == set()
    consumer.on_buffer_drop(OTHER)  # never stopped: nothing to do
    assert consumer._get_active_partitions() == {BULK, OTHER}
    app.in_recovery = True
    consumer.on_buffer_full(BULK)
    assert consumer._get_active_partitions() == {BULK, OTHER}, "recovery is never stopped"

    faust_private._deliver_fetches_in_bulk()
    faust_wait = inspect.getsource(REPLACED["_wait_next_records"])
    assert "active_partitions = self._get_active_partitions()" in faust_wait
    assert "await self.sleep(1)" in faust_wait, (
        "Faust no longer sleeps when no partition may fetch: the patch's wait for "
        "`resumed` may be needless"
    )


def test_a_buffer_read_in_bulk_is_cleared_with_the_streams_queues() -> None:
    """read_in_bulk has app.flow_control manage the buffer: it is cleared whenever
    Faust clears its streams' queues (partitions revoked, flow resumed)."""
    app = _fetching_app()
    topic = app.topic(BULK.topic, **RAW_BYTES)
    read_in_bulk(app, topic)
    buffer = _bulk_buffer(app)
    assert faust_private._bulk_buffer_for(app, topic.stream().channel) is buffer
    buffer.put(_bulk_chunk(BULK, 0, 1))
    app.flow_control.clear()
    assert len(buffer) == 0
    buffer.put(_bulk_chunk(BULK, 2))
    app.flow_control.resume()
    assert len(buffer) == 0
    with pytest.raises(ValueError, match="already read in bulk"):
        read_in_bulk(app, topic)
    with pytest.raises(ValueError, match="not read in bulk"):
        faust_private._bulk_buffer_for(app, app.topic(OTHER.topic).stream().channel)


def test_a_record_made_current_directs_a_table_write_to_its_partition() -> None:
    """make_record_current: Faust's current event is a stand-in for the record (kept
    alive though Faust holds it weakly), and a table write goes to the changelog
    partition of the record's partition."""

    async def run() -> tuple[list[int], list[tuple[bool, int | None, Any]]]:
        app = _offline_app()
        table = app.Table("carried", default=dict, partitions=PARTITIONS)
        seen = []
        for partition, key in ((2, b"k2"), (1, b"k1")):
            make_record_current(_records(TP(BULK.topic, partition), 5)[0])
            gc.collect()
            event = faust.streams.current_event()
            assert event is not None, "the stand-in was collected"
            seen.append(event.message.partition)
            table[key] = {"amount": 1.0}
        changelog = _sent_changelog(app, table)
        return seen, changelog

    seen, changelog = asyncio.run(run())
    assert seen == [2, 1]
    assert changelog == [(True, 2, b"k2"), (True, 1, b"k1")]


def test_the_fetch_wait_is_shortened_on_the_consumer_faust_makes() -> None:
    shorten_fetch_wait()
    shorten_fetch_wait()  # idempotent

    async def run() -> tuple[int, Any]:
        thread = _offline_app().consumer._thread  # type: ignore[attr-defined]
        assert isinstance(thread, AIOKafkaConsumerThread)
        # What the thread's on_start does, short of starting it.
        made = thread._create_consumer(loop=asyncio.get_running_loop())
        try:
            return made._fetch_max_wait_ms, made._fetcher
        finally:
            await made.stop()

    wait_ms, fetcher = asyncio.run(run())
    assert wait_ms == FETCH_MAX_WAIT_MS
    assert fetcher is None, "not started: the fetcher is made at start"


def test_aiokafka_makes_its_fetcher_with_the_wait_set_before_start() -> None:
    """shorten_fetch_wait sets the attribute on the consumer Faust made: it counts
    only if start() still reads it then, and only while Faust hard-codes 1.5 s."""
    from aiokafka import AIOKafkaConsumer

    start = inspect.getsource(AIOKafkaConsumer.start)
    assert "fetch_max_wait_ms=self._fetch_max_wait_ms" in start
    assert "self._create_consumer(" in inspect.getsource(AIOKafkaConsumerThread.on_start)
    shorten_fetch_wait()
    faust_create = inspect.getsource(REPLACED["_create_worker_consumer"])
    assert "fetch_max_wait_ms=1500" in faust_create, (
        "Faust no longer hard-codes the fetch wait: if it is a setting now, set it "
        "instead of shorten_fetch_wait"
    )


def test_a_partition_revoked_while_stopped_is_no_longer_marked_stopped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Going on, a partition no longer assigned is not fetched again, and does not
    stay among Faust's buffered partitions (whose fetches are handed over even
    while they are paused)."""
    app = _bulk_app(capacity=2)
    consumer: Any = app.consumer
    monkeypatch.setattr(consumer, "assignment", lambda: {OTHER})  # BULK was revoked
    buffer = _bulk_buffer(app)

    async def run() -> None:
        buffer.put(_bulk_chunk(BULK, 0, 1))
        assert consumer._buffered_partitions == {BULK}
        await asyncio.wait_for(buffer.take(2, 0, lambda: app.consumer_generation_id), 0.5)

    asyncio.run(run())
    assert consumer._buffered_partitions == set()
    assert BULK not in consumer._get_active_partitions()


def test_only_one_agent_takes_from_a_topic_read_in_bulk() -> None:
    """Faust hands every agent of a topic every message; a buffer hands each record
    to one taker, so a second one is refused, and a finished one makes room."""
    app = _bulk_app()
    stream: Any = type("Stream", (), {"app": app, "channel": app.topic(BULK.topic, **RAW_BYTES)})()

    async def run() -> None:
        first = take_bulk_batches(stream, 10, 0)
        taking = asyncio.ensure_future(anext(first))
        await asyncio.sleep(0.01)
        with pytest.raises(ValueError, match="one agent"):
            await anext(take_bulk_batches(stream, 10, 0))
        taking.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await taking
        again = take_bulk_batches(stream, 10, 0)
        waiting = asyncio.ensure_future(anext(again))
        await asyncio.sleep(0.01)
        assert not waiting.done(), "a taker after the first one finished is refused"
        waiting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await waiting

    asyncio.run(run())
