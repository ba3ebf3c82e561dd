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
    Notification,
    build_fleet,
    engine_map,
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
    assert list(by_engine.values()) == [kinds] * 3


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
