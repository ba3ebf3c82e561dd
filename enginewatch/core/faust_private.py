"""What the workers need of Faust beyond its public API, in one place.

faust-streaming's `Stream.take_events` hands an agent its events in batches,
which costs far less per event than iterating the stream (docs/benchmarks.md),
but two things are missing around it:

- The agent is given a `StreamT`, whose interface lacks `take_events`.
- A table write finds its changelog partition through Faust's current event
  (`faust.streams.current_event()`), which iterating a stream sets and
  `take_events` does not (faust-streaming issue #497): without it, the write
  raises "Cannot modify table key from outside of stream iteration". The
  only way to set it is the private context variable
  `faust.streams._current_event`.

tests/unit/test_faust_private.py fails when Faust changes either behaviour.
"""

from __future__ import annotations

import weakref
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from typing import TypeVar, cast

import faust
from faust.streams import _current_event

T = TypeVar("T")


def take_event_batches(
    stream: faust.StreamT[T], max_events: int, within_seconds: float
) -> AsyncIterator[Sequence[faust.EventT[T]]]:
    """The stream's events in batches: what arrived within `within_seconds`, at
    most `max_events`. Faust acks a batch's events when the loop moves on."""
    # An agent is given a faust.Stream; only its interface StreamT is declared.
    return cast(faust.Stream[T], stream).take_events(max_events, within_seconds)


def make_current(event: faust.EventT[T]) -> None:
    """Make `event` Faust's current event, as iterating a stream does, so a table
    write made now goes to the changelog partition of the event's partition."""
    _current_event.set(weakref.ref(event))


def each_made_current(events: Iterable[faust.EventT[T]]) -> Iterator[faust.EventT[T]]:
    """The events in turn, each made current as it is taken, for a consumer that
    writes to a table while it handles each event before taking the next."""
    for event in events:
        make_current(event)
        yield event
