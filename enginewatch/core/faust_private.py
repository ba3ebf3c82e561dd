"""What the workers need of Faust beyond its public API, in one place.

faust-streaming's `Stream.noack_take` hands an agent its events in batches,
which costs far less per event than iterating the stream (docs/benchmarks.md),
and leaves acknowledging them to the agent, but things are missing around it:

- The agent is given a `StreamT`, whose interface lacks `noack_take` and
  `ack`, and `noack_take` is typed as yielding values, not the events it yields.
- A message a stream skips during a rebalance is acknowledged anyway, and its
  offset may be committed unprocessed (`keep_skipped_messages_unacknowledged`).
- A table write finds its changelog partition through Faust's current event
  (`faust.streams.current_event()`), which iterating a stream sets and
  batches do not (faust-streaming issue #497): without it, the write raises
  "Cannot modify table key from outside of stream iteration". The only way to
  set it is the private context variable `faust.streams._current_event`.

tests/unit/test_faust_private.py fails when Faust changes either behaviour.
"""

from __future__ import annotations

import weakref
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import TypeVar, cast

import faust
from faust.streams import _current_event
from faust.transport.consumer import Consumer
from faust.types import Message

T = TypeVar("T")


def take_unacked_batches(
    stream: faust.StreamT[T], max_events: int, within_seconds: float
) -> AsyncIterator[Sequence[faust.EventT[T]]]:
    """The stream's events in batches, none acknowledged: what arrived within
    `within_seconds`, at most `max_events`.

    `take_events` would acknowledge a batch's events in a `finally`, even when
    the loop body raised or was cancelled, committing input whose output never
    left. Here the caller acknowledges (`acknowledge`) once its output is
    delivered. `noack_take` is typed as yielding values, but yields the events.
    """
    # An agent is given a faust.Stream; only its interface StreamT is declared.
    batches = cast(faust.Stream[T], stream).noack_take(max_events, within_seconds)
    return cast(AsyncIterator[Sequence[faust.EventT[T]]], batches)


async def acknowledge(stream: faust.StreamT[T], events: Iterable[faust.EventT[T]]) -> None:
    """Acknowledge events taken with `take_unacked_batches`: their offsets may be committed."""
    for event in events:
        await cast(faust.Stream[T], stream).ack(event)


def make_current(event: faust.EventT[T]) -> None:
    """Make `event` Faust's current event, as iterating a stream does, so a table
    write made now goes to the changelog partition of the event's partition."""
    _current_event.set(weakref.ref(event))


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


_PATCHED = "_enginewatch_keeps_skipped_unacknowledged"
