"""Input taken in offset order without a gap: enginewatch/core/continuity.py."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


# check_run: the same verdict and the same state as check over one Taken per offset.

GENERATIONS: list[int | None] = [None, 1, 2, 3]


class _Both:
    """One Continuity fed with `check`, another with `check_run`, on the same commits."""

    def __init__(self, committed: int | None) -> None:
        self.committed: dict[tuple[str, int], int | None] = {("notify", 0): committed}
        self.one_by_one = Continuity(self._committed)
        self.by_run = Continuity(self._committed)

    def _committed(self, topic: str, partition: int) -> int | None:
        return self.committed.get((topic, partition))

    def feed(self, generation: int | None, offsets: list[int]) -> bool:
        """Whether the run was refused; fails where the two disagree, in the verdict
        or in what either then expects of the partition in any generation."""
        refused = []
        taken = [Taken("notify", 0, offset, generation) for offset in offsets]
        for check in (
            lambda: self.one_by_one.check(taken),
            lambda: self.by_run.check_run("notify", 0, offsets, generation),
        ):
            try:
                check()
            except SkippedInputError:
                refused.append(True)
            else:
                refused.append(False)
        assert refused[0] == refused[1], f"{offsets}: check refused {refused[0]}, check_run not"
        for seen_in in GENERATIONS:
            expected = self.one_by_one.expected("notify", 0, seen_in)
            assert expected == self.by_run.expected("notify", 0, seen_in), (offsets, seen_in)
        assert self.one_by_one.topics() == self.by_run.topics()
        return refused[0]


@pytest.mark.parametrize(
    ("committed", "runs", "refused"),
    [
        pytest.param(10, [(1, [10, 11, 12]), (1, [13, 14])], [False, False], id="contiguous"),
        pytest.param(None, [(1, [7, 8]), (1, [9])], [False, False], id="unknown-commit"),
        pytest.param(10, [(1, [12, 13])], [True], id="first-run-past-the-commit"),
        pytest.param(10, [(1, [10, 11]), (1, [14, 15])], [False, True], id="after-a-gap"),
        pytest.param(None, [(1, [7, 8]), (1, [10])], [False, True], id="gap-unknown-commit"),
        pytest.param(10, [(1, [10, 11, 12]), (1, [10, 11])], [False, False], id="repeat-inside"),
        pytest.param(10, [(1, [10, 11, 12]), (1, [8, 9])], [False, False], id="repeat-before"),
        pytest.param(10, [(1, [10, 11]), (1, [11, 12, 13])], [False, False], id="repeat-then-new"),
        pytest.param(10, [(1, [10, 11]), (1, [12, 14, 15])], [False, True], id="internal-gap"),
        pytest.param(10, [(1, [10, 11]), (1, [9, 11, 12])], [False, False], id="internal-jump"),
        pytest.param(5, [(1, [5, 6, 7]), (2, [5, 6]), (2, [7])], [False] * 3, id="new-generation"),
        pytest.param(5, [(1, [5, 6, 7, 8]), (2, [9])], [False, True], id="new-gen-from-commit"),
        pytest.param(5, [(1, [5, 6]), (None, [5]), (None, [7])], [False, False, True], id="none"),
    ],
)
def test_check_run_agrees_with_check(
    committed: int | None, runs: list[tuple[int | None, list[int]]], refused: list[bool]
) -> None:
    both = _Both(committed)
    outcomes = [both.feed(generation, offsets) for generation, offsets in runs]
    assert outcomes == refused, "the case does not test what it says"


@settings(max_examples=300, deadline=None)
@given(data=st.data(), committed=st.one_of(st.none(), st.integers(min_value=0, max_value=20)))
def test_check_run_agrees_with_check_on_any_runs(
    data: st.DataObject, committed: int | None
) -> None:
    """Runs in offset order (as a chunk's are) starting before, at or past the offset
    expected, with or without jumps inside, in generations that change, while the
    commit moves on between them."""
    both = _Both(committed)
    for _ in range(data.draw(st.integers(min_value=1, max_value=6), label="runs")):
        if data.draw(st.booleans(), label="commit moves"):
            both.committed[("notify", 0)] = data.draw(st.integers(0, 40), label="committed")
        generation = data.draw(st.sampled_from(GENERATIONS), label="generation")
        expected = both.one_by_one.expected("notify", 0, generation)
        start = 20 if expected is None else expected
        first = max(0, start + data.draw(st.integers(-4, 2), label="from expected"))
        steps = data.draw(st.lists(st.sampled_from([1, 1, 1, 2, 3]), max_size=5), label="steps")
        offsets = [first]
        for step in steps:
            offsets.append(offsets[-1] + step)
        both.feed(generation, offsets)


def test_an_empty_run_changes_nothing() -> None:
    continuity = Continuity(lambda topic, partition: 5)
    continuity.check_run("input", 0, [], 1)
    assert continuity.expected("input", 0, 1) == 5
    assert continuity.topics() == set()
