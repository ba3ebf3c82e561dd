"""The simulated fleet: stable identities, realistic and valid notifications, in time order."""

from __future__ import annotations

import itertools
import re
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from agents.pipeline import Accepted, handle
from enginewatch.tools.fleet import (
    REPORTS_PER_ROUND,
    FleetConfig,
    Incident,
    Notification,
    build_fleet,
    engine_map,
    incident_plan,
    notifications,
    rfc3339,
)

START = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
RFC3339_MICROS_Z = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")


def run(
    engines: int = 4, rate: float = 200, duration: float = 120, seed: int = 1
) -> list[Notification]:
    return list(notifications(FleetConfig(engines, rate, START, duration, seed)))


def parsed(items: list[Notification]) -> list[dict[str, Any]]:
    return [orjson.loads(item.value) for item in items]


@pytest.fixture(scope="module")
def long_run() -> list[dict[str, Any]]:
    """Seven minutes of six engines: long enough for errors and pauses."""
    return parsed(run(engines=6, rate=120, duration=420, seed=11))


def test_same_seed_same_messages_byte_for_byte() -> None:
    first, again = run(duration=30, seed=5), run(duration=30, seed=5)
    assert [(n.time_us, n.src, n.value) for n in first] == [
        (n.time_us, n.src, n.value) for n in again
    ]
    assert [n.value for n in first] != [n.value for n in run(duration=30, seed=6)]


def test_engine_uuids_are_stable_unique_and_match_the_map() -> None:
    fleet = build_fleet(30, seed=2)
    assert [e.src for e in fleet] == [e.src for e in build_fleet(30, seed=2)]
    assert len({e.src for e in fleet}) == 30
    assert {e.src for e in build_fleet(30, seed=3)}.isdisjoint(e.src for e in fleet)
    mapping = engine_map(fleet)
    assert len(set(mapping.values())) == 30  # every engine runs a model of its own name
    senders = {n.src for n in run(engines=30, rate=3000, duration=5, seed=2)}
    assert senders == set(mapping)


def test_a_model_name_has_a_space_and_a_non_ascii_letter() -> None:
    names = engine_map(build_fleet(1, seed=1)).values()
    assert any(" " in name and not name.isascii() for name in names)


def test_messages_are_keyed_by_src_and_in_time_order() -> None:
    items = run()
    assert [n.time_us for n in items] == sorted(n.time_us for n in items)
    for item, message in zip(items, parsed(items), strict=True):
        assert item.key == message["src"].encode()


@pytest.mark.parametrize("rate", [5.0, 3e6])
def test_time_order_holds_at_any_rate(rate: float) -> None:
    items = run(engines=3, rate=rate, duration=20 if rate < 100 else 0.005)
    assert len(items) > 30
    assert [n.time_us for n in items] == sorted(n.time_us for n in items)
    for src in {n.src for n in items}:
        times = [n.time_us for n in items if n.src == src]
        assert len(set(times)) == len(times)  # an engine never sends two at one time


def test_timestamps_are_rfc3339_utc_with_microseconds_from_the_simulated_clock() -> None:
    items = run(duration=30)
    start_us = int(START.timestamp() * 1e6)
    for item, message in zip(items, parsed(items), strict=True):
        assert RFC3339_MICROS_Z.fullmatch(message["timestamp"])
        assert message["timestamp"] == rfc3339(item.time_us)
        assert start_us <= item.time_us < start_us + 30_000_000


def test_rate_and_duration() -> None:
    items = run(engines=5, rate=100, duration=60)
    # The reports alone make the rate; state changes, logs and so on come on top.
    assert 6000 <= len(items) <= 6000 * 1.15
    assert FleetConfig(5, 100, START).round_us == 5 * REPORTS_PER_ROUND * 10_000


def test_all_six_types_from_every_engine_within_the_first_seconds() -> None:
    by_engine: dict[str, set[str]] = {}
    for message in parsed(run(engines=3, rate=100, duration=10)):
        by_engine.setdefault(message["src"], set()).add(message["type"])
    kinds = {"sensor-report", "engine-state", "engine-config", "health", "log", "model-console"}
    # Beside them, within seconds: each jet's status, and the rejected data of
    # these three engines, which reject records from their first rounds on.
    # Output reports and the end of an input stream come later.
    bus = {"jet-status-report", "rejected-data-report"}
    assert list(by_engine.values()) == [kinds | bus] * 3


def test_every_message_is_valid_for_the_agents(long_run: list[dict[str, Any]]) -> None:
    """The real agents' parsing and derivation accept every message: no dead letters."""
    carried: dict[str, dict[str, float]] = {}
    names = engine_map(build_fleet(6, seed=11))
    rejected: Counter[str] = Counter()
    measurements: Counter[str] = Counter()
    series_times = set()
    for message in long_run:
        outcome = handle(orjson.dumps(message), lambda src: names.get(src, "unknown"), carried)
        if isinstance(outcome, Accepted):
            # One point per message, and no two alike: InfluxDB keeps every one.
            assert len(outcome.points) == 1
            point = outcome.points[0]
            series_times.add((point.measurement, tuple(sorted(point.tags.items())), point.time))
            measurements.update(p.measurement for p in outcome.points)
            assert all(p.tags["model"] == names[message["src"]] for p in outcome.points)
        else:
            rejected[outcome.reason] += 1
    assert rejected == Counter()
    assert len(series_times) == len(long_run)
    assert set(measurements) == {
        "records", "record_bytes", "rejections", "jet_records", "system",
        "engine_status", "engine_events", "health", "engine_logs", "model_console",
        "jet_status", "model_outputs",
    }  # fmt: skip


def test_default_taps_are_all_reported(long_run: list[dict[str, Any]]) -> None:
    taps = Counter(
        re.sub(r"^jet\.\d+\.", "jet.N.", m["tap"]) for m in long_run if m["type"] == "sensor-report"
    )
    assert set(taps) == {
        f"manifold.{slot}.records.{what}"
        for slot in (0, 1)
        for what in ("count", "size", "rejected.by.schema", "rejected.by.encoding")
    } | {
        "jet.N.input.records.count",
        "jet.N.output.records.count",
        "sys.cpu.utilization",
        "sys.memory",
    }


def test_sensor_reports_carry_id_and_delta_time_some_zero_some_lists(
    long_run: list[dict[str, Any]],
) -> None:
    reports = [m for m in long_run if m["type"] == "sensor-report"]
    assert all(isinstance(m["id"], int) for m in reports)
    deltas = [m.get("delta_time") for m in reports]
    assert deltas.count(None) > 0  # a sensor's first report
    assert deltas.count(0) > 0  # reports whose amount is carried forward
    assert sum(1 for d in deltas if d) > 0.9 * len(deltas)
    listed = Counter(m["tap"].split(".")[-1] for m in reports if isinstance(m["data"], list))
    assert listed["count"] > 0
    assert listed["memory"] > 0
    assert listed["schema"] > 0
    rejected = [m for m in reports if "rejected" in m["tap"]]
    assert sum(len(m["data"]) if isinstance(m["data"], list) else m["data"] for m in rejected) > 0


def test_engines_go_init_running_and_recover_from_errors_and_pauses(
    long_run: list[dict[str, Any]],
) -> None:
    states: dict[str, list[str]] = {}
    for message in long_run:
        if message["type"] == "engine-state":
            states.setdefault(message["src"], []).append(message["state"])
    for sequence in states.values():
        assert sequence[:2] == ["init", "running"]
        for before, after in itertools.pairwise(sequence):
            assert (before, after) in {
                ("init", "running"), ("running", "error"), ("running", "paused"),
                ("error", "init"), ("paused", "running"),
            }  # fmt: skip
    seen = Counter(state for sequence in states.values() for state in sequence)
    assert seen["error"] > 0
    assert seen["paused"] > 0


def test_health_logs_and_console_look_like_the_engines(long_run: list[dict[str, Any]]) -> None:
    health = {(m["instance"], m["health"]) for m in long_run if m["type"] == "health"}
    assert {h for _, h in health} == {"ok", "fail"}
    assert all(re.fullmatch(r"engine-\d+", instance) for instance, _ in health)
    levels = {m["level"] for m in long_run if m["type"] == "log"}
    assert levels <= {128, 64, 32, 16, 8, 4, 2, 1}
    assert {64, 8} <= levels
    console = [m["text"] for m in long_run if m["type"] == "model-console"]
    assert any("Traceback" in text for text in console)


def by_engine(messages: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    mine: dict[str, list[dict[str, Any]]] = {}
    for message in messages:
        mine.setdefault(message["src"], []).append(message)
    return mine


def test_jet_status_totals_are_what_the_jet_taps_reported_since_the_jet_started(
    long_run: list[dict[str, Any]],
) -> None:
    restarts = 0
    for messages in by_engine(long_run).values():
        consumed = produced = 0
        pids: list[int] = []
        previous: dict[str, Any] | None = None
        for message in messages:
            if message["type"] == "engine-config" and message["item"] == "jet":
                if message["op"] == "start":
                    consumed = produced = 0  # a new process
                    previous = None
                continue
            tap = message.get("tap", "")
            if tap.endswith(".input.records.count") and tap.startswith("jet."):
                consumed += message["data"]
            elif tap.endswith(".output.records.count") and tap.startswith("jet."):
                produced += message["data"]
            if message["type"] != "jet-status-report":
                continue
            (jet,) = message["jets"]
            assert set(jet) == {
                "pid", "sandbox", "total_consumed", "total_produced", "run_time", "memory", "busy",
            }  # fmt: skip
            assert (jet["total_consumed"], jet["total_produced"]) == (consumed, produced)
            assert isinstance(jet["busy"], bool)
            assert re.fullmatch(r"[0-9a-f]{12}", jet["sandbox"])
            assert 16 * 2**20 < jet["memory"] < 2**31
            if previous is None:
                pids.append(jet["pid"])
            else:
                # The same process: the same pid and sandbox, its run time going on,
                # its memory drifting by a few percent at most.
                assert (jet["pid"], jet["sandbox"]) == (previous["pid"], previous["sandbox"])
                assert jet["run_time"] > previous["run_time"]
                assert abs(jet["memory"] / previous["memory"] - 1) < 0.05
            previous = jet
        restarts += len(pids) - 1
        assert len(set(pids)) == len(pids), "a restarted jet is a new process"
    assert restarts > 0  # errors restart jets: rarely, but in seven minutes of six engines
    memory = [m["jets"][0]["memory"] for m in long_run if m["type"] == "jet-status-report"]
    assert len(set(memory)) > 0.9 * len(memory)  # it drifts


def test_jet_status_every_few_seconds_while_the_jet_runs(long_run: list[dict[str, Any]]) -> None:
    for messages in by_engine(long_run).values():
        times = [
            datetime.fromisoformat(m["timestamp"]).timestamp()
            for m in messages
            if m["type"] == "jet-status-report"
        ]
        gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
        assert len(times) > 420 / 6
        assert min(gaps) > 4  # rounds last 0.6 s: a report may come a round late
        assert sorted(gaps)[len(gaps) // 2] < 6.5  # an error stops them for a while
        in_error = False
        for message in messages:
            if message["type"] == "engine-state":
                in_error = message["state"] == "error"
            elif message["type"] == "jet-status-report":
                assert not in_error, "a jet whose runner exited reports nothing"


def test_output_reports_name_the_engine_s_model(long_run: list[dict[str, Any]]) -> None:
    names = engine_map(build_fleet(6, seed=11))
    reports = [m for m in long_run if m["type"] == "output-report"]
    assert {m["src"] for m in reports} == set(names)
    for report in reports:
        assert report["model"] == names[report["src"]]
        assert 1 <= len(report["outputs"]) <= 4
        assert all(set(output) == {"id", "score"} for output in report["outputs"])
        assert report["skipped"] in {0, 1, 2, 3}
    skipped = Counter(m["skipped"] > 0 for m in reports)
    assert skipped[False] > skipped[True] > 0


def test_rejected_data_reports_repeat_what_a_rejection_tap_just_reported(
    long_run: list[dict[str, Any]],
) -> None:
    reported = 0
    for messages in by_engine(long_run).values():
        latest: dict[tuple[int, str], Any] = {}
        for message in messages:
            if message["type"] == "sensor-report" and ".rejected.by." in message["tap"]:
                _, slot, *_, reason = message["tap"].split(".")
                latest[int(slot), reason] = message["data"]
            elif message["type"] == "rejected-data-report":
                reported += 1
                data = latest[message["slot"], message["reason"]]
                if isinstance(data, list):
                    assert set(message) - {"type", "timestamp", "src"} == {
                        "reason", "slot", "records",
                    }  # fmt: skip
                    assert message["records"] == data
                else:
                    assert set(message) - {"type", "timestamp", "src"} == {
                        "reason", "slot", "count",
                    }  # fmt: skip
                    assert message["count"] == data > 0
    assert reported > 0
    reasons = {m["reason"] for m in long_run if m["type"] == "rejected-data-report"}
    assert reasons == {"schema", "encoding"}


def test_an_input_stream_ends_every_few_minutes_and_is_attached_again(
    long_run: list[dict[str, Any]],
) -> None:
    for messages in by_engine(long_run).values():
        ends = [i for i, m in enumerate(messages) if m["type"] == "output-eof"]
        assert ends, "every engine's first stream ends within five minutes"
        for index in ends:
            assert {k: v for k, v in messages[index].items() if k not in ("timestamp",)} == {
                "type": "output-eof", "src": messages[index]["src"], "last": True,
            }  # fmt: skip
            attach = messages[index + 1]
            assert (attach["type"], attach["item"], attach["op"], attach["ref"]) == (
                "engine-config", "stream", "attach", 0,
            )  # fmt: skip
        times = [datetime.fromisoformat(messages[i]["timestamp"]).timestamp() for i in ends]
        assert all(later - earlier >= 180 for earlier, later in itertools.pairwise(times))


def test_the_fleet_recording_is_this_simulator_s_output() -> None:
    """tests/recordings/fleet-3-engines.jsonl; regenerate it (see its README) when this fails."""
    recording = Path(__file__).resolve().parents[1] / "recordings" / "fleet-3-engines.jsonl"
    expected = b"".join(n.value + b"\n" for n in run(engines=3, rate=60, duration=10, seed=1))
    assert recording.read_bytes() == expected


@pytest.mark.parametrize(
    "kwargs",
    [
        {"engines": 0},
        {"rate": 0.0},
        {"rate": float("inf")},
        {"duration": 0.0},
        {"start": datetime(2024, 1, 1)},
    ],
)
def test_bad_configurations_are_refused(kwargs: dict[str, Any]) -> None:
    config: dict[str, Any] = {"engines": 1, "rate": 10.0, "start": START, **kwargs}
    with pytest.raises(ValueError, match=r"engine|rate|duration|timezone"):
        FleetConfig(**config)


# Incidents: an engine in error for a while, one running hot, on a schedule.


def test_incident_plan_is_a_share_of_the_run() -> None:
    assert incident_plan(FleetConfig(5, 100, START, 60)) == []
    assert incident_plan(FleetConfig(5, 100, START, 60, incidents=True)) == [
        Incident("error", 1, 18.0, 33.0, 60.0),
        Incident("hot", 2, 9.0, 36.0, 60.0),
    ]
    # A fleet of two has no third engine to run hot; a run without end repeats
    # the schedule every 10 minutes.
    assert incident_plan(FleetConfig(2, 100, START, None, incidents=True)) == [
        Incident("error", 1, 180.0, 330.0, 600.0)
    ]
    assert Incident("hot", 2, 90.0, 360.0, 600.0).active(600.0 + 100.0)


def seconds_of(message: dict[str, Any]) -> float:
    moment = datetime.fromisoformat(message["timestamp"].replace("Z", "+00:00"))
    return (moment - START).total_seconds()


@pytest.fixture(scope="module")
def incident_run() -> list[dict[str, Any]]:
    return parsed(list(notifications(FleetConfig(5, 100, START, 60, incidents=True))))


def test_the_error_engine_is_in_error_through_its_spell_and_recovers(
    incident_run: list[dict[str, Any]],
) -> None:
    engine = build_fleet(5, 1)[1].src
    states = [
        (seconds_of(m), m["state"])
        for m in incident_run
        if m["src"] == engine and m["type"] == "engine-state"
    ]
    errors = [t for t, state in states if state == "error"]
    # A round lasts 0.6 s here: the error begins in the spell's first round ...
    assert 18.0 <= errors[-1] < 18.0 + 0.6 * 2
    # ... and lasts it out: the engine says nothing else until the spell is over,
    # then reboots into running within a round.
    after = [(t, state) for t, state in states if t > errors[-1]]
    assert 33.0 <= after[0][0] < 33.0 + 0.6 * 2
    assert [state for _, state in after[:2]] == ["init", "running"]
    health = {
        m["health"]
        for m in incident_run
        if m["src"] == engine and m["type"] == "health" and 19 < seconds_of(m) < 33
    }
    assert health == {"fail"}


def test_the_hot_engine_runs_above_90_percent_through_its_spell_only(
    incident_run: list[dict[str, Any]],
) -> None:
    engine = build_fleet(5, 1)[2].src
    cpu = [
        (seconds_of(m), m["data"])
        for m in incident_run
        if m["src"] == engine and m.get("tap") == "sys.cpu.utilization"
    ]
    inside = [value for t, value in cpu if 9.0 + 0.6 <= t < 36.0]
    outside = [value for t, value in cpu if t < 9.0 or t >= 36.0 + 0.6]
    assert len(inside) > 30
    assert min(inside) > 90
    assert outside
    assert max(outside) < 80


def test_incidents_change_nothing_of_the_other_engines() -> None:
    plain = run(engines=5, rate=100, duration=60)
    troubled = list(notifications(FleetConfig(5, 100, START, 60, incidents=True)))
    fleet = build_fleet(5, 1)
    calm = {fleet[i].src for i in (0, 3, 4)}
    assert [n.value for n in plain if n.src in calm] == [n.value for n in troubled if n.src in calm]
    assert [n.value for n in plain] != [n.value for n in troubled]
