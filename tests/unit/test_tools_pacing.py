"""Replay schedules: fixed rate and the messages' original timing."""

from __future__ import annotations

import asyncio

import pytest

from enginewatch.tools.pacing import FixedRate, OriginalTiming, Pacer, Schedule


def test_as_fast_as_possible() -> None:
    assert [Schedule().due(i, None) for i in range(3)] == [0.0, 0.0, 0.0]


def test_fixed_rate() -> None:
    schedule = FixedRate(4)
    assert [schedule.due(i, 100.0 * i) for i in range(4)] == [0.0, 0.25, 0.5, 0.75]


def test_original_timing_follows_the_timestamps() -> None:
    schedule = OriginalTiming()
    assert [schedule.due(i, t) for i, t in enumerate([100.0, 100.5, 103.0])] == [0.0, 0.5, 3.0]


def test_original_timing_sped_up() -> None:
    schedule = OriginalTiming(speed=10)
    assert [schedule.due(i, t) for i, t in enumerate([50.0, 60.0, 70.0])] == [0.0, 1.0, 2.0]


def test_lines_without_time_or_going_back_follow_at_once() -> None:
    schedule = OriginalTiming()
    times = [None, 10.0, None, 12.0, 11.0, 13.0]
    assert [schedule.due(i, t) for i, t in enumerate(times)] == [0.0, 0.0, 0.0, 2.0, 2.0, 3.0]


@pytest.mark.parametrize("bad", [0, -1])
def test_rates_and_speeds_must_be_positive(bad: float) -> None:
    with pytest.raises(ValueError, match="above 0"):
        FixedRate(bad)
    with pytest.raises(ValueError, match="above 0"):
        OriginalTiming(bad)


def test_pacer_never_waits_for_a_past_offset(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []

    async def sleep(delay: float) -> None:
        slept.append(delay)

    monkeypatch.setattr(asyncio, "sleep", sleep)
    clock = iter([10.0, 50.0, 50.0, 50.0]).__next__
    pacer = Pacer(clock)
    asyncio.run(pacer.wait_until(5.0))  # due at 15, now 50: returns at once
    asyncio.run(pacer.wait_until(40.0))  # due at 50, now 50: returns at once
    assert slept == []
    asyncio.run(pacer.wait_until(45.0))  # due at 55, now 50: waits what is left
    assert slept == [5.0]


def test_pacer_returns_when_stopped() -> None:
    async def main() -> None:
        pacer = Pacer()
        stop = asyncio.Event()
        waiting = asyncio.create_task(pacer.wait_until(3600.0, stop))
        await asyncio.sleep(0)
        assert not waiting.done(), "an hour ahead, the pacer waits until stopped"
        stop.set()
        # An hour's wait cut short: a pacer that ignores `stop` times out here.
        await asyncio.wait_for(waiting, timeout=2.0)
        await asyncio.wait_for(pacer.wait_until(3600.0, stop), timeout=2.0)

    asyncio.run(main())
