"""Delivery, pure: which transitions a receiver is told of, exactly once
through repeats and crashes; reminders; what the table keeps and drops."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from alerts.delivery import (
    RESOLVED_KEPT,
    Delivered,
    decode_transition,
    expired,
    firing,
    plan,
    record_key,
    reminders,
    transition_problem,
)
from alerts.labels import fingerprint
from alerts.payloads import FIRST, REPEAT, RESOLVED, UPDATE

S = 1_000_000_000
T0 = 1_767_225_600 * S
WALL = 1_000_000.0
AM = "alertmanager-0123456789ab"


def labels(engine: str) -> dict[str, str]:
    return {"alertname": "HighCPU", "severity": "warning", "engine": engine, "model": "iris"}


def transition(
    engine: str,
    sequence: int,
    state: str,
    previous: str,
    seconds: float,
    fired_at: float | None,
    firing: bool | None = None,
) -> dict[str, Any]:
    return {
        "version": 1,
        "fingerprint": fingerprint(labels(engine)),
        "alertname": "HighCPU",
        "severity": "warning",
        "state": state,
        "previous": previous,
        "firing": state in ("firing", "flapping") if firing is None else firing,
        "time": T0 + int(seconds * S),
        "fired_at": None if fired_at is None else T0 + int(fired_at * S),
        "sequence": sequence,
        "value": 95.0,
        "tags": {"engine": engine, "model": "iris"},
        "labels": labels(engine),
        "annotations": {},
        "origin": None,
    }


# One alert's life: pending, firing, flapping, firing, resolved, then a second alert.
LIFE = [
    transition("e1", 1, "pending", "inactive", 0, None),
    transition("e1", 2, "firing", "pending", 10, 10),
    transition("e1", 3, "flapping", "firing", 20, 10),
    transition("e1", 4, "firing", "flapping", 30, 10),
    transition("e1", 5, "resolved", "firing", 40, 10),
    transition("e1", 6, "firing", "resolved", 50, 50),
]


def encoded(transitions: list[dict[str, Any]], partition: int = 0) -> list[tuple[int, bytes]]:
    return [(partition, orjson.dumps(t)) for t in transitions]


def kept(table: dict[str, Any], records: dict[str, tuple[int, dict[str, Any] | None]]) -> None:
    for key, (_, value) in records.items():
        if value is None:
            table.pop(key, None)
        else:
            table[key] = value


def told(notices: list[Any]) -> list[tuple[int, str, str]]:
    return [(n.transition["sequence"], n.transition["state"], n.reason) for n in notices]


def test_a_receiver_is_told_what_fires_or_ends_a_firing_alert() -> None:
    done = plan(AM, encoded(LIFE), {}, WALL)
    assert told(done.notices) == [
        (2, "firing", FIRST),
        (3, "flapping", UPDATE),
        (4, "firing", UPDATE),
        (5, "resolved", RESOLVED),
        (6, "firing", FIRST),
    ]
    key = record_key(AM, fingerprint(labels("e1")))
    assert list(done.records) == [key]
    partition, value = done.records[key]
    record = Delivered.from_table(value)
    assert record is not None
    assert (partition, record.transition, record.told) == (0, LIFE[5], WALL)
    assert (done.counts.transitions, done.counts.notices, done.counts.repeated) == (6, 5, 0)


def test_a_no_data_that_ends_a_firing_alert_is_a_resolve() -> None:
    silent = transition("e1", 3, "no-data", "firing", 300, 10, firing=False)
    done = plan(AM, encoded([*LIFE[:2], silent]), {}, WALL)
    assert told(done.notices) == [(2, "firing", FIRST), (3, "no-data", RESOLVED)]


def test_repeats_are_not_told_again() -> None:
    """The alerts worker sends what followed its last commit again after a
    crash: the same transitions, after the first ones; and this worker reads
    again what followed its own last commit, with the table's records kept."""
    table: dict[str, Any] = {}
    first = plan(AM, encoded(LIFE[:3]), table, WALL)
    kept(table, first.records)
    again = plan(AM, encoded(LIFE[:3] + LIFE[1:5]), table, WALL + 1)
    assert told(again.notices) == [(4, "firing", UPDATE), (5, "resolved", RESOLVED)]
    assert again.counts.repeated == 4  # 2 and 3 twice (1 is no notice)
    # Within one batch, too.
    assert told(plan(AM, encoded(LIFE[1:3] * 2), {}, WALL).notices) == [
        (2, "firing", FIRST),
        (3, "flapping", UPDATE),
    ]


def test_a_forgotten_series_that_comes_back_is_told_anew() -> None:
    """Its sequence starts at 1 again, later in time."""
    table: dict[str, Any] = {}
    kept(table, plan(AM, encoded(LIFE), table, WALL).records)
    back = transition("e1", 1, "firing", "inactive", 90_000, 90_000)
    assert told(plan(AM, encoded([back]), table, WALL).notices) == [(1, "firing", FIRST)]


@pytest.mark.parametrize("cut", range(1, len(LIFE)))
def test_exactly_once_through_every_crash(cut: int) -> None:
    """Delivery takes a batch, the receiver takes its notices, the records are
    written (or lost with a crash before the changelog had them), the offset
    is committed (or not). However the run is cut, each notice the receiver
    keeps once per (fingerprint, sequence, time) is there exactly once, and it
    is told nothing twice unless a crash lost the records of what it took.
    (Faust writes the changelog before it commits: no commit without the records.)"""
    expected = told(plan(AM, encoded(LIFE), {}, WALL).notices)
    for records_kept, committed in ((True, True), (True, False), (False, False)):
        table: dict[str, Any] = {}
        receiver: list[tuple[int, str, str]] = []
        first = plan(AM, encoded(LIFE[:cut]), table, WALL)
        receiver += told(first.notices)
        if records_kept:
            kept(table, first.records)
        rest = LIFE[cut:] if committed else LIFE
        second = plan(AM, encoded(rest), table, WALL)
        receiver += told(second.notices)
        assert sorted(set(receiver)) == sorted(expected)
        if records_kept:
            assert receiver == expected


def test_malformed_messages_are_counted_and_skipped() -> None:
    bad = [(0, b"not json"), (0, b"[1]"), (0, orjson.dumps({**LIFE[1], "version": 2})), (0, None)]
    done = plan(AM, [*bad, *encoded(LIFE[1:2])], {}, WALL)
    assert done.counts.malformed == 4
    assert told(done.notices) == [(2, "firing", FIRST)]
    assert transition_problem({**LIFE[1], "fired_at": None}) == (
        "fired_at: null in a firing transition"
    )
    assert transition_problem({**LIFE[1], "sequence": True}) is not None
    assert decode_transition(orjson.dumps(LIFE[0])) == LIFE[0]


def table_of(*transitions: dict[str, Any], receiver: str = AM) -> dict[str, Any]:
    """Records told at WALL, in partitions 0, 1, 0, ..."""
    table: dict[str, Any] = {}
    for n, t in enumerate(transitions):
        record = Delivered(receiver, n % 2, t, WALL)
        table[record_key(receiver, t["fingerprint"])] = record.to_table()
    return table


def test_the_firing_alerts_of_the_active_partitions_are_re_sent() -> None:
    table = table_of(
        LIFE[1],  # e1 firing, partition 0
        transition("e2", 2, "firing", "pending", 10, 10),  # partition 1
        transition("e3", 3, "resolved", "firing", 20, 10),  # partition 0, ended
    )
    assert [r.transition["tags"]["engine"] for r in firing(AM, table.items(), {0, 1})] == [
        "e1",
        "e2",
    ]
    assert [r.transition["tags"]["engine"] for r in firing(AM, table.items(), {1})] == ["e2"]
    assert firing("webhook-x", table.items(), {0, 1}) == []


def test_reminders_come_every_repeat_interval() -> None:
    table = table_of(LIFE[1], transition("e2", 5, "resolved", "firing", 40, 10))
    notices, records = reminders(AM, table.items(), {0, 1}, WALL + 59, every=60)
    assert (notices, records) == ([], {})
    notices, records = reminders(AM, table.items(), {0, 1}, WALL + 60, every=60)
    assert told(notices) == [(2, "firing", REPEAT)]
    kept(table, records)
    again = Delivered.from_table(table[record_key(AM, LIFE[1]["fingerprint"])])
    assert again is not None
    assert (again.transition, again.told) == (LIFE[1], WALL + 60)
    assert reminders(AM, table.items(), {0, 1}, WALL + 100, every=60)[0] == []


def test_what_is_dropped() -> None:
    ended = transition("e2", 5, "resolved", "firing", 40, 10)
    table = {
        **table_of(LIFE[1], ended),
        **table_of(LIFE[1], receiver="webhook-gone"),
        "junk": {"partition": 1, "whatever": True},
    }
    assert expired(table.items(), {AM}, {0, 1}, WALL + 10) == {
        record_key("webhook-gone", LIFE[1]["fingerprint"]): 0,
        "junk": 1,
    }
    later = expired(table.items(), {AM, "webhook-gone"}, {0, 1}, WALL + RESOLVED_KEPT)
    assert later == {record_key(AM, ended["fingerprint"]): 1, "junk": 1}
    # Only the active partitions' records: another worker owns the others.
    assert expired(table.items(), {AM}, {0}, WALL + RESOLVED_KEPT) == {
        record_key("webhook-gone", LIFE[1]["fingerprint"]): 0
    }


def test_a_record_survives_the_changelog() -> None:
    record = Delivered(AM, 3, LIFE[1], WALL)
    assert Delivered.from_table(orjson.loads(orjson.dumps(record.to_table()))) == record
    assert Delivered.from_table(None) is None
    assert Delivered.from_table({**record.to_table(), "partition": "3"}) is None
