"""Input taken in offset order without a gap: enginewatch/core/continuity.py."""

from __future__ import annotations

import pytest

from enginewatch.core.continuity import Continuity, SkippedInputError, Taken


def _continuity(committed: dict[tuple[str, int], int] | None = None) -> Continuity:
    known = committed or {}
    return Continuity(lambda topic, partition: known.get((topic, partition)))


def _taken(*offsets: int, partition: int = 0, generation: int = 1) -> list[Taken]:
    return [Taken("notify", partition, offset, generation) for offset in offsets]


def test_inputs_in_order_pass() -> None:
    continuity = _continuity({("notify", 0): 10})
    continuity.check(_taken(10, 11, 12))
    continuity.check(_taken(13))


def test_a_repeat_is_not_a_gap() -> None:
    continuity = _continuity({("notify", 0): 10})
    continuity.check(_taken(10, 11, 12, 10, 11, 12, 13))


def test_an_input_past_a_gap_is_refused_naming_the_gap() -> None:
    continuity = _continuity({("notify", 0): 10})
    continuity.check(_taken(10, 11))
    with pytest.raises(SkippedInputError, match=r"notify/0: offsets 12 to 13 never reached"):
        continuity.check(_taken(14))


def test_a_gap_after_repeats_is_still_a_gap() -> None:
    continuity = _continuity({("notify", 0): 0})
    continuity.check(_taken(0, 1, 2, 3))
    continuity.check(_taken(1, 2, 3))  # read again from an earlier position
    with pytest.raises(SkippedInputError, match="offsets 4 to 4"):
        continuity.check(_taken(5))


def test_the_first_input_of_an_assignment_starts_at_the_commit() -> None:
    continuity = _continuity({("notify", 0): 10})
    with pytest.raises(SkippedInputError, match="offsets 10 to 10"):
        continuity.check(_taken(11))


def test_an_unknown_commit_takes_the_first_input_as_the_start() -> None:
    continuity = _continuity()
    continuity.check(_taken(7, 8))
    with pytest.raises(SkippedInputError, match="offsets 9 to 9"):
        continuity.check(_taken(10))


def test_a_new_generation_starts_again_at_the_commit() -> None:
    committed = {("notify", 0): 5}
    continuity = _continuity(committed)
    continuity.check(_taken(5, 6, 7, 8))
    # Reassigned: the commit lags behind what was taken, and the partition is read
    # again from it.
    continuity.check(_taken(5, 6, generation=2))
    with pytest.raises(SkippedInputError, match="offsets 7 to 8"):
        continuity.check(_taken(9, generation=2))


def test_partitions_are_apart() -> None:
    continuity = _continuity({("notify", 0): 0, ("notify", 1): 100})
    continuity.check([*_taken(0, 1), *_taken(100, 101, partition=1), *_taken(2)])
    with pytest.raises(SkippedInputError, match="notify/1"):
        continuity.check(_taken(103, partition=1))


def test_input_on_the_broker_past_what_was_handed_out_is_unread() -> None:
    continuity = _continuity({("notify", 0): 10})
    continuity.check(_taken(10, 11))
    assert continuity.unread("notify", 0, 1, end=12) is None, "all handed out"
    problem = continuity.unread("notify", 0, 1, end=15)
    assert problem is not None
    assert "notify/0: offsets 12 to 14 are on the broker" in str(problem)


def test_unread_before_any_input_counts_from_the_commit() -> None:
    continuity = _continuity({("notify", 0): 10})
    assert continuity.unread("notify", 0, 1, end=10) is None
    assert "offsets 10 to 10" in str(continuity.unread("notify", 0, 1, end=11))
    # Neither the end nor the commit known yet: nothing to say.
    assert _continuity().unread("notify", 0, 1, end=11) is None
    assert continuity.unread("notify", 0, 1, end=None) is None


def test_unread_follows_the_generation() -> None:
    continuity = _continuity({("notify", 0): 5})
    continuity.check(_taken(5, 6, 7))
    assert continuity.unread("notify", 0, 1, end=8) is None
    # Reassigned: the partition is read again from its commit.
    assert continuity.unread("notify", 0, 2, end=8) is not None
