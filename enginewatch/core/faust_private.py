"""What the workers need of Faust beyond its public API, in one place.

faust-streaming's `Stream.noack_take` hands an agent its events in batches,
which costs far less per event than iterating the stream (docs/benchmarks.md),
and leaves acknowledging them to the agent, but things are missing around it:

- The agent is given a `StreamT`, whose interface lacks `noack_take` and
  `ack`, and `noack_take` is typed as yielding values, not the events it yields.
- A message a stream skips during a rebalance is acknowledged anyway, and its
  offset may be committed unprocessed (`keep_skipped_messages_unacknowledged`).
- Its commits can pass input no stream acknowledged: a jump in the offsets it
  fetched counts as offsets that do not exist (`Consumer._add_gap`), and its
  head check lets one unacknowledged offset through, or any when the committed
  offset is 0 or unknown (`Consumer._new_offset`). And soon after an
  assignment (a restart, a rebalance) its fetch loop now and then loses a
  message: the stream is handed the next one instead. The fault tests meet it
  in about one restart in three; its cause inside Faust is not pinned down.
  `commit_only_acknowledged_offsets` makes every commit stop at the first
  offset no stream acknowledged, and `take_unacked_batches` stops the worker
  when a batch follows a gap (enginewatch/core/continuity.py), so the lost
  message is read again by the next owner of its partition.
- Iterating a stream, even in batches, costs a fixed amount per message (an
  Event, a queue, the stream iterator, two tasks per message in the consumer's
  fetch loop), several times what the agents' own code costs. `read_in_bulk`
  has the consumer hand a topic's fetches to a buffer (enginewatch/core/bulk.py)
  before they reach Faust's conductor (`Consumer._wait_next_records`), and
  `take_bulk_batches` and `acknowledge_batch` do what a stream and
  `Consumer.ack` do for them, a batch at a time: skip what a rebalance made
  stale, keep a rebalance waiting while a batch is in flight, and record
  acknowledged offsets where the consumer's commits look for them.
- Faust's Kafka consumer has the broker hold a fetch up to 1.5 s when the
  partitions it asks for have nothing new, and aiokafka keeps one fetch in
  flight per broker, asking only for partitions whose fetched records were all
  taken. So input that arrives meanwhile on the other partitions waits for that
  fetch: lulls of up to 1.5 s in a backlog's drain (docs/benchmarks.md).
  `shorten_fetch_wait` sets the wait on the consumer Faust makes.
- A table write finds its changelog partition through Faust's current event
  (`faust.streams.current_event()`), which iterating a stream sets and
  batches do not (faust-streaming issue #497): without it, the write raises
  "Cannot modify table key from outside of stream iteration". The only way to
  set it is the private context variable `faust.streams._current_event`.

tests/unit/test_faust_private.py fails when Faust changes any of these behaviours.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
import weakref
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from functools import partial
from typing import Any, TypeVar, cast

import faust
from faust.streams import _current_event
from faust.transport.consumer import Consumer
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
from faust.types import TP, AppT, Message
from faust.types.tuples import ack_lock
from mode.utils.futures import notify

from enginewatch.core.bulk import Batch, Chunk, ChunkBuffer, FetchedRecord
from enginewatch.core.continuity import Continuity, SkippedInputError, Taken

T = TypeVar("T")
logger = logging.getLogger(__name__)


async def take_unacked_batches(
    stream: faust.StreamT[T], max_events: int, within_seconds: float
) -> AsyncIterator[Sequence[faust.EventT[T]]]:
    """The stream's events in batches, none acknowledged: what arrived within
    `within_seconds`, at most `max_events`.

    `take_events` would acknowledge a batch's events in a `finally`, even when
    the loop body raised or was cancelled, committing input whose output never
    left. Here the caller acknowledges (`acknowledge`) once its output is
    delivered. `noack_take` is typed as yielding values, but yields the events.

    A batch that follows a gap in one of its partitions is not handed out: the
    worker stops (exit 1), and the partition is read again from its last commit.
    """
    # An agent is given a faust.Stream; only its interface StreamT is declared.
    batches = cast(faust.Stream[T], stream).noack_take(max_events, within_seconds)
    app = stream.app
    continuity = Continuity(partial(committed_position, app))
    waiting = _Waiting()
    watch = asyncio.ensure_future(_watch_for_unread_input(stream, continuity, waiting))
    try:
        async for batch in cast(AsyncIterator[Sequence[faust.EventT[T]]], batches):
            waiting.since = None
            try:
                continuity.check(_taken(event.message) for event in batch)
            except SkippedInputError as exc:
                logger.critical("input was skipped (%s); stopping, none of the batch is done", exc)
                await app.crash(exc)
                return
            yield batch
            waiting.since = time.monotonic()
    finally:
        watch.cancel()


# A worker that has waited this long for input while its partition holds some it
# was never handed stops (Kafka hands a waiting consumer new input in milliseconds).
UNREAD_SECONDS = 20.0
UNREAD_CHECK_SECONDS = 5.0


class _Waiting:
    """Since when (monotonic) an agent waits for its next batch; None while it works."""

    def __init__(self) -> None:
        self.since: float | None = time.monotonic()


async def _watch_for_unread_input(
    stream: faust.StreamT[T], continuity: Continuity, waiting: _Waiting
) -> None:
    """Stop the worker when its agent waited UNREAD_SECONDS for input while one of
    its partitions holds input past what it was handed: lost input with nothing
    after it, which `Continuity.check` cannot see."""
    app = stream.app
    channel_topics = set(getattr(stream.channel, "topics", None) or ())
    if _read_by_other_agents(app, channel_topics):
        # Several agents share the fetches of a topic (the alerts delivery, one
        # per receiver): one that waits may be held up by another that works.
        return
    suspects: dict[TP, tuple[float, int | None]] = {}
    while True:
        await asyncio.sleep(UNREAD_CHECK_SECONDS)
        since = waiting.since
        if since is None or time.monotonic() - since < UNREAD_SECONDS:
            continue
        if app.rebalancing or app.in_recovery:
            continue
        generation = app.consumer_generation_id
        topics = channel_topics | continuity.topics()
        read = [tp for tp in app.assignor.assigned_actives() if tp.topic in topics]
        if not read:
            continue
        # The broker's own end offsets: a partition Faust stopped fetching keeps
        # the end it had when it stopped.
        ends = await app.consumer.highwaters(*read)
        if waiting.since != since:
            continue  # a batch came meanwhile
        # Input that came just now may not have reached the worker yet: only input
        # unread at two checks in a row, with nothing taken between them, counts.
        unread: dict[TP, tuple[tuple[float, int | None], SkippedInputError]] = {}
        for tp in read:
            problem = continuity.unread(tp.topic, tp.partition, generation, ends.get(tp))
            if problem is not None:
                expected = continuity.expected(tp.topic, tp.partition, generation)
                unread[tp] = ((since, expected), problem)
        for tp, (seen, problem) in unread.items():
            if suspects.get(tp) == seen:
                logger.critical("input was skipped (%s); stopping", problem)
                await app.crash(problem)
                return
        suspects = {tp: seen for tp, (seen, _) in unread.items()}


async def take_bulk_batches(
    stream: faust.StreamT[Any], max_records: int, within_seconds: float
) -> AsyncIterator[Batch]:
    """`take_unacked_batches` for a topic read with `read_in_bulk`: its records in
    batches, none acknowledged, the stream itself never iterated.

    A batch taken while a rebalance holds the flow, or fetched in an earlier
    consumer generation, is dropped unacknowledged, as a stream skips such
    events; the partition is read again from its commit. A batch that follows a
    gap stops the worker. The caller acknowledges with `acknowledge_batch`.
    """
    app = stream.app
    buffer = _bulk_buffer_for(app, stream.channel)
    # Faust hands every agent of a topic every message; a buffer hands each
    # record to one taker only.
    if buffer.taken:
        raise ValueError("a topic read in bulk has one agent taking from it, not several")
    buffer.taken = True
    consumer = app.consumer
    continuity = Continuity(partial(committed_position, app))
    waiting = _Waiting()
    watch = asyncio.ensure_future(_watch_for_unread_input(stream, continuity, waiting))

    def generation() -> int:
        return app.consumer_generation_id

    try:
        while True:
            batch = await buffer.take(max_records, within_seconds, generation)
            if not app.flow_control.is_active():
                await app.flow_control.acquire()
                continue
            waiting.since = None
            try:
                for chunk in batch.chunks:
                    offsets = [record.offset for record in chunk.records]
                    continuity.check_run(chunk.topic, chunk.partition, offsets, chunk.generation)
            except SkippedInputError as exc:
                logger.critical("input was skipped (%s); stopping, none of the batch is done", exc)
                await app.crash(exc)
                return
            if app.conf.stream_wait_empty:
                batch.token = _InFlight(len(batch))
                consumer._unacked_messages.add(batch.token)  # type: ignore[attr-defined]
            yield batch
            waiting.since = time.monotonic()
    finally:
        buffer.taken = False
        watch.cancel()


class _InFlight:
    """A taken batch, among the consumer's unacknowledged messages: a rebalance
    waits until it is acknowledged (`Consumer.wait_empty`), as for a message a
    stream took."""

    __slots__ = ("__weakref__", "acked", "records", "refcount")

    def __init__(self, records: int) -> None:
        self.acked = False
        self.refcount = 1
        self.records = records

    def __repr__(self) -> str:
        return f"<batch of {self.records} records taken in bulk>"


async def acknowledge_batch(stream: faust.StreamT[Any], batch: Batch) -> None:
    """Acknowledge a batch taken with `take_bulk_batches`, as `Consumer.ack` does
    each message: its offsets may be committed."""
    app = stream.app
    consumer = app.consumer
    acks_enabled_for = app.topics.acks_enabled_for
    committed_offsets: Mapping[TP, int | None] = consumer._committed_offset  # type: ignore[attr-defined]
    acked_index: Mapping[TP, set[int]] = consumer._acked_index  # type: ignore[attr-defined]
    acked: Mapping[TP, list[int]] = consumer._acked  # type: ignore[attr-defined]
    with ack_lock:
        count = 0
        for chunk in batch.chunks:
            if not acks_enabled_for(chunk.topic):
                continue
            tp = TP(chunk.topic, chunk.partition)
            committed, index, offsets = committed_offsets[tp], acked_index[tp], acked[tp]
            for record in chunk.records:
                offset = record.offset
                if (committed is None or offset >= committed) and offset not in index:
                    index.add(offset)
                    offsets.append(offset)
                    count += 1
        consumer._n_acked += count  # type: ignore[attr-defined]
        token = batch.token
        if isinstance(token, _InFlight):
            token.acked = True
            consumer._unacked_messages.discard(token)  # type: ignore[attr-defined]
        notify(consumer._waiting_for_ack)  # type: ignore[attr-defined]
    # As the fetch loop does after each message Faust delivers.
    commit_every = consumer._commit_every  # type: ignore[attr-defined]
    if commit_every is not None and consumer._n_acked >= commit_every:  # type: ignore[attr-defined]
        consumer._n_acked = 0  # type: ignore[attr-defined]
        await consumer.commit()


def read_in_bulk(app: AppT, topic: faust.TopicT) -> None:
    """Have the consumer hand the topic's fetches to a buffer of their own, instead
    of to Faust's conductor; the agent reading the topic takes them with
    `take_bulk_batches`. Call when the app is made, before it starts."""
    _deliver_fetches_in_bulk()

    def stop(partitions: set[tuple[str, int]]) -> None:
        for topic_name, partition in partitions:
            app.consumer.on_buffer_full(TP(topic_name, partition))

    def go_on(partitions: set[tuple[str, int]]) -> None:
        assigned = app.consumer.assignment()
        for tp in (TP(topic_name, partition) for topic_name, partition in partitions):
            if tp in assigned:
                app.consumer.on_buffer_drop(tp)
            else:  # revoked meanwhile: no longer stopped, and not to be fetched
                app.consumer._buffered_partitions.discard(tp)  # type: ignore[attr-defined]
        _bulk_inputs(app).resumed.set()

    buffer = ChunkBuffer(app.conf.stream_buffer_maxsize, stop, go_on)
    # Cleared when partitions are revoked, as the streams' queues are.
    app.flow_control.manage_queue(cast(Any, buffer))
    buffers = _bulk_inputs(app).buffers
    for name in topic.topics:
        if name in buffers:
            raise ValueError(f"topic {name} is already read in bulk")
        buffers[name] = buffer


class _BulkInputs:
    """An app's topics read in bulk, and when one of their partitions stopped for a
    full buffer last fetched again."""

    def __init__(self) -> None:
        self.buffers: dict[str, ChunkBuffer] = {}
        self.resumed = asyncio.Event()

    def stopped(self) -> bool:
        """Whether a partition is stopped for a full buffer."""
        return any(buffer.stopped for buffer in self.buffers.values())


# The longest a fetch waits for records while a partition is stopped for a full
# buffer (Faust's fetches wait up to a second).
STOPPED_FETCH_SECONDS = 0.02


_BULK_INPUTS = "_enginewatch_bulk_inputs"


def _bulk_inputs(app: AppT) -> _BulkInputs:
    inputs: _BulkInputs | None = getattr(app, _BULK_INPUTS, None)
    if inputs is None:
        inputs = _BulkInputs()
        setattr(app, _BULK_INPUTS, inputs)
    return inputs


def _bulk_buffer_for(app: AppT, channel: Any) -> ChunkBuffer:
    buffers = _bulk_inputs(app).buffers
    names = list(getattr(channel, "topics", None) or ())
    if not names or any(name not in buffers for name in names):
        raise ValueError(f"{names} is not read in bulk: call read_in_bulk when making the app")
    return buffers[names[0]]


def _deliver_fetches_in_bulk() -> None:
    """Make the consumer take the fetches of topics read in bulk out of what it
    hands the conductor, and put them in their buffers. Idempotent."""
    if getattr(Consumer._wait_next_records, _PATCHED, False):
        return
    wait_next_records = Consumer._wait_next_records

    async def patched(self: Consumer, timeout: float) -> tuple[Any, Any]:  # noqa: ASYNC109
        inputs: _BulkInputs | None = getattr(self.app, _BULK_INPUTS, None)
        if inputs is not None and self.flow_active and not self._get_active_partitions():
            # Every partition is stopped for a full buffer: Faust would sleep a
            # second before it looks again; fetch as soon as one may go on.
            inputs.resumed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await inputs.resumed.wait()
        if inputs is not None and inputs.stopped():
            # A fetch asks only for the partitions active when it starts, and waits
            # up to `timeout` for them: one stopped now and going on meanwhile
            # would wait that long for its next records.
            timeout = min(timeout, STOPPED_FETCH_SECONDS)
        records, active = await wait_next_records(self, timeout)
        if inputs is not None and records:
            # A dict the conductor is handed next: what is taken out goes to no stream.
            _hand_over(self, cast(dict[TP, list[Any]], records), active, inputs.buffers)
        return records, active

    setattr(patched, _PATCHED, True)
    REPLACED.update(_wait_next_records=wait_next_records)
    Consumer._wait_next_records = patched  # type: ignore[method-assign]


def _hand_over(
    consumer: Consumer,
    records: dict[TP, list[Any]],
    active: set[TP] | None,
    buffers: Mapping[str, ChunkBuffer],
) -> None:
    """Move the fetched records of topics read in bulk to their buffers, with the
    checks `Consumer.getmany` and its fetch loop make of each message."""
    app = consumer.app
    generation = app.consumer_generation_id
    buffered = consumer._buffered_partitions
    read_offsets = consumer._read_offset
    for tp in [tp for tp in records if tp.topic in buffers]:
        fetched = records.pop(tp)
        if active is not None and tp not in active and tp not in buffered:
            continue  # paused: Faust drops these too
        read = read_offsets[tp]
        if read is not None and fetched and fetched[0].offset < read:
            fetched = [record for record in fetched if record.offset >= read]
        if not fetched:
            continue
        if not consumer.flow_active:
            # A rebalance began: dropped, as Faust drops the rest of a fetch then;
            # the partition is sought back to its commit before the flow resumes.
            continue
        buffers[tp.topic].put(Chunk(tp.topic, tp.partition, generation, fetched))
        read_offsets[tp] = fetched[-1].offset
        # Where Faust's monitor, and so the lag enginewatch reports, finds the end.
        app.monitor.track_tp_end_offset(tp, consumer.highwater(tp))


def _read_by_other_agents(app: AppT, topics: set[str]) -> bool:
    """Whether more than one of the app's agents reads one of these topics."""
    readers = 0
    for agent in app.agents.values():
        if topics & set(getattr(agent.channel, "topics", None) or ()):
            readers += 1
    return readers > 1


def _taken(message: Message) -> Taken:
    return Taken(message.topic, message.partition, message.offset, message.generation_id)


def committed_position(app: AppT, topic: str, partition: int) -> int | None:
    """The offset the consumer knows the group committed for the partition (the next
    to read), or None before the seek that follows an assignment."""
    committed: dict[TP, int | None] = app.consumer._committed_offset  # type: ignore[attr-defined]
    return committed.get(TP(topic, partition))


async def acknowledge(stream: faust.StreamT[T], events: Iterable[faust.EventT[T]]) -> None:
    """Acknowledge events taken with `take_unacked_batches`: their offsets may be committed."""
    for event in events:
        await cast(faust.Stream[T], stream).ack(event)


def make_current(event: faust.EventT[T]) -> None:
    """Make `event` Faust's current event, as iterating a stream does, so a table
    write made now goes to the changelog partition of the event's partition."""
    _current_event.set(weakref.ref(event))


# Holds the stand-in made current by `make_record_current`: Faust keeps only a
# weak reference to its current event.
_current_record: contextvars.ContextVar[object] = contextvars.ContextVar("current_record")


class _RecordEvent:
    """What a table write reads of its current event: `.message.topic` and
    `.message.partition`."""

    __slots__ = ("__weakref__", "message")

    def __init__(self, record: FetchedRecord) -> None:
        self.message = record


def make_record_current(record: FetchedRecord) -> None:
    """`make_current` for a record taken in bulk: a table write made now goes to the
    changelog partition of the record's partition."""
    event = _RecordEvent(record)
    _current_record.set(event)
    _current_event.set(weakref.ref(cast(Any, event)))


def keep_skipped_messages_unacknowledged() -> None:
    """Make the consumer ignore the acknowledgement of a message no stream took.

    A stream skips a message fetched while a rebalance holds the flow, or
    fetched in an earlier consumer generation, and acknowledges it all the same
    (`Stream._py_aiter`: "We want to ack the filtered out message"). Its offset
    then counts as done, and a later commit can pass it although nothing
    processed it: after a worker is killed or leaves the group, input is lost.
    A message a stream really took is tracked first; a skipped one is not. So
    acknowledgements of untracked messages are dropped here, the committed
    offset stays before them, and the partition's next owner reads them again.
    Idempotent; every worker calls it when its app is made.
    """
    if getattr(Consumer.ack, _PATCHED, False):
        return
    original = Consumer.ack

    def ack(self: Consumer, message: Message) -> bool:
        if not message.tracked:
            return False
        return original(self, message)

    setattr(ack, _PATCHED, True)
    Consumer.ack = ack  # type: ignore[method-assign]


def commit_only_acknowledged_offsets() -> None:
    """Make every commit stop at the first offset no stream acknowledged.

    Faust's consumer fills a jump in the offsets it fetched as if they did not
    exist (compacted or transactional topics), and its head check lets through
    one unacknowledged offset after the committed one, or any when the committed
    offset is 0 or unknown. When its fetch loop loses a message, both commit
    input nothing processed.
    Here a commit reaches only as far as the acknowledged offsets run on without
    a gap from the committed one, and a partition without a commit is sought
    to its earliest offset (where the consumer starts it) as a committed one is
    sought to its commit, so input fetched before the seek is read again.
    A dropped message then holds the commits back, and stops the worker when the
    input after it is taken (`take_unacked_batches`).
    Idempotent; every worker calls it when its app is made.
    """
    if getattr(Consumer._new_offset, _PATCHED, False):
        return
    seek = Consumer.perform_seek

    async def no_gap(self: Consumer, tp: TP, offset_from: int, offset_to: int) -> None:
        return None

    async def perform_seek(self: Consumer) -> None:
        await seek(self)
        unknown = [
            tp
            for tp in self.assignment()
            if self._committed_offset.get(tp) is None and not self._is_changelog_tp(tp)
        ]
        if unknown:
            earliest = await self.earliest_offsets(*unknown)
            for tp in unknown:
                if tp in earliest and self._committed_offset.get(tp) is None:
                    # Faust's seek leaves a partition without a commit where the
                    # fetches before it left it: what they fetched and no stream
                    # took would be skipped. Back to the start, as for a commit.
                    await self.seek(tp, earliest[tp])
                    self._committed_offset[tp] = earliest[tp]

    for patched in (acknowledged_offset, no_gap, perform_seek):
        setattr(patched, _PATCHED, True)
    REPLACED.update(_new_offset=Consumer._new_offset, _add_gap=Consumer._add_gap)
    Consumer._new_offset = acknowledged_offset  # type: ignore[method-assign]
    Consumer._add_gap = no_gap  # type: ignore[method-assign]
    Consumer.perform_seek = perform_seek  # type: ignore[method-assign]


# How long the broker may hold a fetch when the partitions asked for have nothing
# new: at most this long, input on partitions left out of it waits to be fetched.
FETCH_MAX_WAIT_MS = 100


def shorten_fetch_wait() -> None:
    """Make the consumer Faust makes for a worker ask the broker to hold a fetch at
    most FETCH_MAX_WAIT_MS instead of Faust's fixed 1 500 ms. Idempotent; every
    worker calls it when its app is made."""
    thread = AIOKafkaConsumerThread
    if getattr(thread._create_worker_consumer, _PATCHED, False):
        return
    create = thread._create_worker_consumer

    def create_worker_consumer(self: AIOKafkaConsumerThread, transport: Any) -> Any:
        consumer = create(self, transport)
        # Read when the consumer starts and makes its fetcher.
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS
        return consumer

    setattr(create_worker_consumer, _PATCHED, True)
    REPLACED.update(_create_worker_consumer=create)
    thread._create_worker_consumer = create_worker_consumer  # type: ignore[method-assign]


def acknowledged_offset(self: Consumer, tp: TP) -> int | None:
    """The offset to commit for `tp`: one past the acknowledged offsets that run on
    from the committed one without a gap; None when that is no further, or while
    the committed offset is not known. Takes those offsets off the pending list."""
    committed = self._committed_offset.get(tp)
    acked = self._acked[tp]
    if committed is None or not acked:
        return None
    acked.sort()
    done, taken = committed, 0
    for offset in acked:
        if offset > done:
            break  # a gap: `done` itself was never acknowledged
        done = max(done, offset + 1)
        taken += 1
    self._acked_index[tp].difference_update(acked[:taken])
    del acked[:taken]
    return done if done > committed else None


_PATCHED = "_enginewatch_patched"
# Faust's own methods that commit_only_acknowledged_offsets replaced, by name: the
# tests check that they still behave as the replacements assume.
REPLACED: dict[str, Callable[..., Any]] = {}
