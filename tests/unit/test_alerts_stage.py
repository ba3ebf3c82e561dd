"""The alerts stage without Faust: exact through every way a run can crash,
its own points skipped, bounded, and its states' table JSON.

A run is a fleet's archive messages over two partitions, in batches. A crash
strikes after a batch's transitions were delivered and before (all, some or
none of) its states were written; the restarted worker gets its states back
through JSON (the changelog) and the uncommitted batch again, perhaps merged
with the next one. Whatever the crash, what a receiver keeps (the first of
each fingerprint, sequence and time) is exactly what a clean run gives, and
every repeat is the same message.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import yaml

from alerts.lifecycle import Series, advance, observe
from alerts.rules import Rules, rules_from
from alerts.stage import (
    MAX_SERIES_PER_PARTITION,
    AlertsOutput,
    ArchiveInput,
    evaluate,
    tick,
)
from alerts.state import Clock, Index, SeriesRecord, clock_key
from enginewatch.core.points import Origin, Point, decode_archive, encode_archive

S = 1_000_000_000
T0 = 1_767_225_600 * S
RULES = rules_from(
    yaml.safe_load(
        """
        rules:
          - {name: HighCPU, measurement: system, field: cpu_utilization, above: 90, reset: 80,
             for: 10s, no_data: {after: 30s}}
          - {name: EngineError, measurement: engine_status, field: code, equals: 2}
          - {name: MeanCPU, measurement: system, field: cpu_utilization, aggregate: mean,
             window: 30s, above: 70}
          - {name: Warm, measurement: system, field: cpu_utilization, above: 60,
             flapping: {history: 6, low: 0.2, high: 0.5}}
          - {name: Silent, measurement: "*", group_by: [engine], no_data: {after: 40s, fires: true},
             forget: 5m}
        """
    )
)
SILENT = """
rules:
  - {name: Any, measurement: "*", group_by: [engine], no_data: {after: 1m, fires: true}}
"""
ENGINES = {"e1": 0, "e2": 0, "e3": 1, "e4": 1}  # engine -> archive partition


def fleet(seed: int = 11, rounds: int = 120) -> list[ArchiveInput]:
    """Archive messages of four engines, their CPU wandering across the
    thresholds, states changing, and silences long enough for no-data."""
    rng = random.Random(seed)
    cpu = dict.fromkeys(ENGINES, 60.0)
    offsets = dict.fromkeys(ENGINES.values(), 0)
    silent_until = dict.fromkeys(ENGINES, -1)
    messages = []
    for step in range(rounds):
        for engine, partition in ENGINES.items():
            if step < silent_until[engine]:
                continue
            if rng.random() < 0.03:
                silent_until[engine] = step + rng.randint(5, 20)
            seconds = step * 5 + rng.randint(0, 3)
            cpu[engine] = min(100.0, max(0.0, cpu[engine] + rng.gauss(0, 12)))
            points = [_point(engine, "system", {"cpu_utilization": round(cpu[engine], 1)}, seconds)]
            if rng.random() < 0.15:
                code = rng.choice([1, 1, 2, 3])
                points.append(_point(engine, "engine_status", {"code": code}, seconds))
            if rng.random() < 0.05:
                points.append(_point(engine, "alerts", {"state": "firing", "firing": 1}, seconds))
            origin = Origin("archive", partition, offsets[partition])
            offsets[partition] += 1
            messages.append(ArchiveInput(origin, encode_archive(points)))
    return messages


def _point(engine: str, measurement: str, fields: dict[str, Any], seconds: int) -> Point:
    return Point(measurement, {"engine": engine, "model": "m"}, fields, T0 + seconds * S)


def batches(messages: list[ArchiveInput], size: int) -> list[list[ArchiveInput]]:
    return [messages[i : i + size] for i in range(0, len(messages), size)]


def keep(states: dict[str, Any], output: AlertsOutput, keys: set[str] | None = None) -> None:
    for key, (_, value) in output.states.items():
        if keys is not None and key not in keys:
            continue
        if value is None:
            states.pop(key, None)
        else:
            states[key] = value


def clean_run(messages: list[ArchiveInput], rules: Rules = RULES) -> list[bytes]:
    states: dict[str, Any] = {}
    sent: list[bytes] = []
    for batch in batches(messages, 7):
        output = evaluate(batch, rules, states, 0.0)
        sent += [value for _, value in output.transitions]
        keep(states, output)
    return sent


def received(sent: list[bytes]) -> list[bytes]:
    """What a receiver keeps: the first of each (fingerprint, sequence, time);
    a repeat must be the same message."""
    kept: dict[tuple[str, int, int], bytes] = {}
    for value in sent:
        message = orjson.loads(value)
        key = (message["fingerprint"], message["sequence"], message["time"])
        assert kept.setdefault(key, value) == value
    return list(kept.values())


def test_the_fleet_exercises_every_state() -> None:
    states = {orjson.loads(value)["state"] for value in clean_run(fleet())}
    assert states == {"pending", "firing", "resolved", "inactive", "no-data", "flapping"}


def crashes() -> Iterator[tuple[int, str, bool]]:
    for at in (0, 3, 9, 17, 30, 50):
        for written in ("none", "some", "all"):
            for merged in (False, True):
                yield at, written, merged


@pytest.mark.parametrize(("at", "written", "merged"), list(crashes()))
def test_a_crash_anywhere_gives_what_a_clean_run_gives(at: int, written: str, merged: bool) -> None:
    messages = fleet()
    expected = clean_run(messages)
    parts = batches(messages, 7)
    states: dict[str, Any] = {}
    sent: list[bytes] = []
    index = 0
    crashed = False
    while index < len(parts):
        batch = parts[index]
        output = evaluate(batch, RULES, states, 0.0)
        sent += [value for _, value in output.transitions]
        if index == at and not crashed:
            crashed = True
            keys = sorted(output.states)
            kept = {"none": set(), "some": set(keys[::2]), "all": set(keys)}[written]
            keep(states, output, kept)
            # Restarted: the states from the changelog, the batch again, uncommitted.
            states = orjson.loads(orjson.dumps(states))
            if merged and index + 1 < len(parts):
                parts[index + 1] = batch + parts[index + 1]
                index += 1
            continue
        keep(states, output)
        index += 1
    assert received(sent) == expected


def test_a_batch_delivered_twice_is_skipped_whole() -> None:
    messages = fleet(rounds=40)
    states: dict[str, Any] = {}
    output = evaluate(messages, RULES, states, 0.0)
    keep(states, output)
    again = evaluate(messages, RULES, states, 0.0)
    assert again.transitions == []
    assert again.points == []
    assert again.counts.redelivered > 0


def test_batch_boundaries_change_nothing() -> None:
    messages = fleet()
    whole: dict[str, Any] = {}
    output = evaluate(messages, RULES, whole, 0.0)
    assert [value for _, value in output.transitions] == clean_run(messages)


def test_the_workers_own_points_neither_feed_rules_nor_move_the_clock() -> None:
    rules = rules_from(yaml.safe_load(SILENT))
    own = ArchiveInput(
        Origin("archive", 0, 0),
        encode_archive([_point("e1", "alerts", {"state": "firing", "firing": 1}, 500)]),
    )
    output = evaluate([own], rules, {}, 5.0)
    assert output.transitions == []
    assert output.states == {}
    assert output.counts.points == 0


def test_a_tick_moves_only_partitions_idle_long_enough() -> None:
    states: dict[str, Any] = {}
    rules = rules_from(yaml.safe_load(SILENT))
    for partition in (0, 1):
        record = ArchiveInput(
            Origin("archive", partition, 0),
            encode_archive([_point(f"e{partition}", "system", {"cpu_utilization": 1.0}, 0)]),
        )
        keep(states, evaluate([record], rules, states, 1000.0 + partition * 50))
    # At wall 1070 partition 0 was idle 70 s (clock 0 + 70 s: past the deadline
    # at 60 s); partition 1 only 20 s, under the 60 s of ENGINEWATCH_ALERTS_IDLE.
    output = tick("archive", [0, 1], rules, states, 1070.0, 60.0)
    (transition,) = [orjson.loads(value) for _, value in output.transitions]
    assert (transition["tags"], transition["state"], transition["time"]) == (
        {"engine": "e0"},
        "no-data",
        T0 + 60 * S,
    )
    assert transition["origin"] is None
    assert {partition for partition, _ in output.states.values()} == {0}
    assert clock_key("archive", 0) not in output.states, "a tick keeps nothing of the advance"
    # The points of the tick come back on the archive topic: no sign of life.
    (point_message,) = output.points
    keep(states, output)
    again = evaluate(
        [ArchiveInput(Origin("archive", 0, 1), point_message[1])], rules, states, 1080.0
    )
    assert clock_key("archive", 0) not in again.states


def test_malformed_archive_messages_are_counted_and_skipped() -> None:
    output = evaluate([ArchiveInput(Origin("archive", 0, 0), b"{not json")], RULES, {}, 0.0)
    assert output.counts.malformed == 1
    assert output.transitions == []


def test_a_partition_holds_a_bounded_number_of_series() -> None:
    fingerprints = {f"{n:016x}": (T0 + 10**15, "x") for n in range(MAX_SERIES_PER_PARTITION)}
    states = {"index/archive/0": Index(RULES.digest, fingerprints).to_table()}
    record = ArchiveInput(
        Origin("archive", 0, 0),
        encode_archive([_point("new", "system", {"cpu_utilization": 99.0}, 0)]),
    )
    output = evaluate([record], RULES, states, 0.0)
    assert output.counts.overflow == 4  # HighCPU, MeanCPU, Warm and Silent would each make one
    assert output.transitions == []


def test_series_records_read_back_from_table_json() -> None:
    messages = fleet(rounds=60)
    states: dict[str, Any] = {}
    keep(states, evaluate(messages, RULES, states, 0.0))
    series = [v for k, v in states.items() if k.startswith("series/")]
    assert {(v["rule"], v["tags"]["engine"]) for v in series} == {
        (rule.name, engine) for rule in RULES for engine in ENGINES
    }
    for value in series:
        record = SeriesRecord.from_table(value)
        assert record is not None
        assert record.to_table() == value
        assert SeriesRecord.from_table(orjson.loads(orjson.dumps(value))) == record
    assert SeriesRecord.from_table({"rule": "x", "state": "sleeping"}) is None
    assert SeriesRecord.from_table([1, 2]) is None
    assert Clock.from_table(None) == Clock()
    assert Index.from_table({"series": {"a": [1, "i"], "b": "junk"}}).deadlines == {"a": (1, "i")}
    assert SeriesRecord("r", {}, {}).series == Series()


def test_each_transition_has_its_alerts_point() -> None:
    states: dict[str, Any] = {}
    output = evaluate(fleet(rounds=60), RULES, states, 0.0)
    transitions = [orjson.loads(value) for _, value in output.transitions]
    points = [p for key, value in output.points for p in decode_archive(value)]
    for key, value in output.points:
        assert {p.tags["engine"] for p in decode_archive(value)} == {key.decode()}
    from_points = [
        (p.tags["alertname"], p.tags["engine"], p.time, p.fields["state"]) for p in points
    ]
    from_transitions = [
        (t["alertname"], t["tags"]["engine"], t["time"], t["state"]) for t in transitions
    ]
    assert sorted(from_points) == sorted(from_transitions)
    for point in points:
        assert set(point.fields) <= {"state", "firing", "value"}
        assert isinstance(point.fields["firing"], int)
        assert isinstance(point.fields.get("value", 0.0), float)


def test_a_late_point_or_a_while_point_changes_no_silent_series() -> None:
    rule = rules_from(
        yaml.safe_load(
            """
            rules:
              - {name: Idle, measurement: records, field: count, equals: 0,
                 while: {measurement: engine_status, field: state, equals: running},
                 no_data: {after: 1m}}
            """
        )
    ).rules[0]
    s = observe(rule, Series(), "value", T0, 0.0).series
    assert s is not None
    assert s.state == "inactive"  # the gate is not known yet
    s = observe(rule, s, "gate", T0 + S, "running").series
    assert s is not None
    assert s.state == "firing"
    silent = advance(rule, s, T0 + 120 * S)
    assert [t.state for t in silent.transitions] == ["no-data"]
    assert silent.series is not None
    gated = observe(rule, silent.series, "gate", T0 + 130 * S, "running")
    assert gated.transitions == ()
    assert gated.series is not None
    assert gated.series.state == "no-data"
    late = observe(rule, gated.series, "value", T0 + 10 * S, 0.0)
    assert late.late
    assert late.series == gated.series
    back = observe(rule, gated.series, "value", T0 + 140 * S, 0.0)
    assert [(t.previous, t.state) for t in back.transitions] == [("no-data", "firing")]
