"""Silent engines, by their partition's event-time clock: agents/silence.py."""

from __future__ import annotations

from agents.silence import SILENT_CODE, Heard, Silence
from enginewatch.core.points import Point

S = 1_000_000_000  # one second in ns


def _silence() -> Silence:
    return Silence(factor=5.0, minimum_ns=10 * S, model_for=lambda engine: f"model of {engine}")


def _status(points: list[Point]) -> list[tuple[str, str, int, int]]:
    return [
        (p.tags["engine"], str(p.fields["state"]), int(p.fields["code"]), p.time) for p in points
    ]


def test_an_engine_is_silent_after_its_usual_interval_times_the_factor() -> None:
    silence = _silence()
    # "a" speaks every 3 s; "b" moves the partition's clock on.
    assert silence.heard([Heard("a", 0, t * S) for t in (0, 3, 6, 9)]) == []
    assert silence.heard([Heard("b", 0, t * S) for t in (10, 20)]) == []  # under 5 x 3 s
    points = silence.heard([Heard("b", 0, 24 * S)])
    assert _status(points) == [("a", "silent", SILENT_CODE, 24 * S)]  # 9 s + 15 s
    assert points[0].measurement == "engine_status"
    assert dict(points[0].tags) == {"engine": "a", "model": "model of a"}
    assert silence.heard([Heard("b", 0, 40 * S)]) == [], "called silent once"


def test_the_silences_are_the_same_whatever_the_batches() -> None:
    messages = [Heard("a", 0, t * S) for t in range(5)]
    messages += [Heard("b", 0, t * S) for t in range(30)] + [Heard("a", 0, 31 * S)]
    whole = _silence().heard(messages)
    one_by_one = _silence()
    split = [p for m in messages for p in one_by_one.heard([m])]
    assert _status(whole) == _status(split) == [("a", "silent", SILENT_CODE, 14 * S)]


def test_the_minimum_holds_for_a_chatty_engine() -> None:
    silence = _silence()
    silence.heard([Heard("a", 0, t * S // 10) for t in range(10)])  # every 0.1 s
    assert silence.heard([Heard("b", 0, 9 * S)]) == []
    assert _status(silence.heard([Heard("b", 0, 11 * S)])) == [
        ("a", "silent", SILENT_CODE, 10_900_000_000)
    ]


def test_an_engine_back_shows_its_last_state_again() -> None:
    silence = _silence()
    silence.heard([Heard("a", 0, 0, ("running", 1)), Heard("a", 0, 2 * S)])
    assert len(silence.heard([Heard("b", 0, 60 * S)])) == 1
    assert _status(silence.heard([Heard("a", 0, 61 * S)])) == [("a", "running", 1, 61 * S)]
    assert silence.heard([Heard("a", 0, 62 * S)]) == [], "back once"


def test_an_engine_back_with_a_state_of_its_own_needs_no_point() -> None:
    silence = _silence()
    silence.heard([Heard("a", 0, 0, ("running", 1)), Heard("a", 0, 2 * S)])
    silence.heard([Heard("b", 0, 60 * S)])
    assert silence.heard([Heard("a", 0, 61 * S, ("paused", 3))]) == []


def test_an_engine_heard_once_has_no_interval_yet() -> None:
    silence = _silence()
    assert silence.heard([Heard("a", 0, 0), Heard("b", 0, 0), Heard("b", 0, 3600 * S)]) == []


def test_partitions_have_their_own_clocks() -> None:
    silence = _silence()
    silence.heard([Heard("a", 0, 0), Heard("a", 0, 2 * S)])
    assert silence.heard([Heard("b", 1, 0), Heard("b", 1, 100 * S)]) == []
    assert silence.due([0, 1]) == [], "partition 1's clock does not move partition 0's"


def test_an_idle_input_moves_the_clocks_with_the_wall_clock() -> None:
    silence = _silence()
    silence.heard([Heard("a", 0, 0), Heard("a", 0, 2 * S)])
    silence.follow_wall_clock([0], 9 * S)
    assert silence.due([0]) == []
    silence.follow_wall_clock([0], 1 * S)
    assert _status(silence.due([0])) == [("a", "silent", SILENT_CODE, 12 * S)]


def test_a_partition_no_longer_read_is_forgotten() -> None:
    silence = _silence()
    silence.heard([Heard("a", 0, 0), Heard("a", 0, 2 * S), Heard("b", 1, 0)])
    silence.keep_only({1})
    silence.follow_wall_clock([0, 1], 100 * S)
    assert silence.due([0, 1]) == []
