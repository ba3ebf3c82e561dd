"""Each partition's input taken in offset order without a gap, or not at all.

A worker's state follows its input partition by partition, in offset order: the
agents skip an input at or below the position their carried amounts applied, so
an input taken after a later one of its partition would be skipped as done, and
its points never written. Kafka hands a consumer each partition in order, but
Faust's fetch loop now and then loses a message after an assignment
(enginewatch/core/faust_private.py): the next input a worker sees is then past
one it never saw.
`Continuity` notices that before anything of the batch is done, and the worker
stops; whoever reads the partition next starts at its last commit, before the gap.
When nothing comes after the lost input, the gap shows otherwise: the worker
waits for input while the partition holds some past what it was handed
(`unread`), and stops too.

A partition's offsets must therefore be contiguous: topics written without
transactions (whose markers take offsets) and not compacted, as enginewatch's are.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Taken:
    """Where an input came from, and in which consumer generation it was fetched."""

    topic: str
    partition: int
    offset: int
    generation: int | None


class SkippedInputError(RuntimeError):
    """Input of a partition never reached the worker; str(exc) says which."""


class Continuity:
    """The next offset expected of each partition: one past the last input taken in
    the same consumer generation, or its committed position once known.

    `committed(topic, partition)` is the offset the group committed for the
    partition (the next one to read), or None while the consumer does not know it.
    """

    def __init__(self, committed: Callable[[str, int], int | None]) -> None:
        self._committed = committed
        self._next: dict[tuple[str, int], tuple[int | None, int]] = {}

    def topics(self) -> set[str]:
        """The topics inputs were taken from."""
        return {topic for topic, _ in self._next}

    def expected(self, topic: str, partition: int, generation: int | None) -> int | None:
        """The next offset the partition should hand this worker, if known."""
        seen = self._next.get((topic, partition))
        if seen is not None and seen[0] == generation:
            return seen[1]
        return self._committed(topic, partition)

    def unread(
        self, topic: str, partition: int, generation: int | None, end: int | None
    ) -> SkippedInputError | None:
        """For a worker that waits for input: the error to stop with when the
        partition holds input past the next offset expected (its end is `end`),
        which can only be input lost on its way to the worker; else None."""
        expected = self.expected(topic, partition, generation)
        if expected is None or end is None or end <= expected:
            return None
        return SkippedInputError(
            f"{topic}/{partition}: offsets {expected} to {end - 1} are on the broker, "
            "and none reached this worker while it waited for input"
        )

    def check(self, inputs: Iterable[Taken]) -> None:
        """Note the inputs of a batch, in the order taken; SkippedInputError when one
        comes after a gap in its partition. An input at or before the expected
        offset is a repeat (read again after a seek or a rebalance): not a gap."""
        for taken in inputs:
            key = (taken.topic, taken.partition)
            # In a new assignment the partition starts again at its commit.
            expected = self.expected(taken.topic, taken.partition, taken.generation)
            if expected is not None and taken.offset > expected:
                raise SkippedInputError(
                    f"{taken.topic}/{taken.partition}: offsets {expected} to "
                    f"{taken.offset - 1} never reached this worker, {taken.offset} did"
                )
            following = taken.offset + 1
            self._next[key] = (
                taken.generation,
                following if expected is None else max(expected, following),
            )

    def check_run(
        self, topic: str, partition: int, offsets: Sequence[int], generation: int | None
    ) -> None:
        """`check` for inputs of one partition taken one after the other, in offset
        order: the same verdict, with one look-up for the run."""
        if not offsets:
            return
        first, last = offsets[0], offsets[-1]
        if last - first + 1 != len(offsets):
            # A gap inside the run: the one-by-one check names it.
            self.check(Taken(topic, partition, offset, generation) for offset in offsets)
            return
        expected = self.expected(topic, partition, generation)
        if expected is not None and first > expected:
            raise SkippedInputError(
                f"{topic}/{partition}: offsets {expected} to {first - 1} never reached "
                f"this worker, {first} did"
            )
        following = last + 1
        self._next[(topic, partition)] = (
            generation,
            following if expected is None else max(expected, following),
        )
