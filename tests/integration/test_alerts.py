"""The alerts worker on the real broker, as a real process.

Archive messages go in (produced as the agents produce them: keyed by engine,
in the archive format), transitions come out on the alerts topic, and they are
exactly what the pure stage gives over the archive topic as the broker holds
it, read in each partition's order (the worker's own `alerts` points
included, which it must skip). Mid-way, while an alert fires, the worker is
killed (SIGKILL) before it committed anything, and started again: its input
comes again and is skipped (the table says it was applied), the alert is not
announced again as new, and its resolve still comes. Were the table's writes
lost with the worker, the input would be evaluated again to the same
transitions: a receiver keeps the first of each (fingerprint, sequence, time).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from alerts.rules import load_rules
from alerts.stage import ArchiveInput, evaluate
from enginewatch.core.points import Origin, Point, encode_archive
from enginewatch.harness import kafka
from enginewatch.harness.processes import Process
from tests.support.services import base_env
from tests.support.supervisor import Supervisor
from tests.support.waiting import wait_until

PARTITIONS = 2
S = 1_000_000_000
T0 = 1_767_225_600 * S
# A SIGKILLed member leaves its group after 6 s, not Faust's 60 s; acknowledged
# offsets are committed every half second.
FAST_FAULTS = {
    "BROKER_SESSION_TIMEOUT": "6",
    "BROKER_HEARTBEAT_INTERVAL": "1",
    "BROKER_COMMIT_INTERVAL": "0.5",
}
RULES = """
rules:
  - name: HighCPU
    measurement: system
    field: cpu_utilization
    above: 90
    reset: 80
    for: 10s
    annotations:
      summary: "CPU of {{ model }} on {{ engine }} at {{ value }} %"
  - name: EngineError
    measurement: engine_status
    field: code
    equals: 2
    severity: critical
"""


def _message(engine: str, offset: int, *points: tuple[str, dict[str, Any], int]) -> bytes:
    return encode_archive(
        [
            Point(measurement, {"engine": engine, "model": "iris"}, fields, T0 + seconds * S)
            for measurement, fields, seconds in points
        ],
        Origin("notify", 0, offset),
    )


def _cpu(value: float, seconds: int) -> tuple[str, dict[str, Any], int]:
    return "system", {"cpu_utilization": value}, seconds


def _state(code: int, state: str, seconds: int) -> tuple[str, dict[str, Any], int]:
    return "engine_status", {"code": code, "state": state}, seconds


# (engine, points) per archive message, in two parts: before and after the kill.
BEFORE = [
    ("e1", [_cpu(95.0, 0)]),
    ("e2", [_cpu(95.0, 0), _state(1, "running", 0)]),
    ("e1", [_cpu(96.0, 5)]),
    ("e2", [_cpu(50.0, 5)]),
    ("e1", [_cpu(97.0, 10)]),  # e1 fires (above 90 for 10 s)
    ("e2", [_state(2, "error", 12)]),  # e2 fires (in error)
]
AFTER = [
    ("e1", [_cpu(85.0, 20)]),  # above reset 80: still firing
    ("e2", [_state(1, "running", 25)]),  # e2 resolves
    ("e1", [_cpu(60.0, 30)]),  # e1 resolves
]


def _produce(archive: str, messages: list[tuple[str, list[Any]]], first: int) -> None:
    kafka.produce(
        archive,
        [_message(engine, first + n, *points) for n, (engine, points) in enumerate(messages)],
        keys=[engine.encode() for engine, _ in messages],
    )


def _transitions(alerts: str) -> list[dict[str, Any]]:
    """Every transition on the alerts topic now, repeats included."""
    records = kafka.read_all(alerts) if kafka.partitions(alerts) else []
    transitions = [orjson.loads(r.value or b"") for r in records]
    for record, transition in zip(records, transitions, strict=True):
        assert record.key == transition["fingerprint"].encode()
    return transitions


def _distinct(alerts: str, count: int, timeout: float = 90.0) -> list[dict[str, Any]]:
    """The distinct transitions, once there are `count`, and a little longer:
    any one too many would show."""
    assert wait_until(lambda: len(_deduplicated(_transitions(alerts))) >= count, timeout)
    time.sleep(2)
    return _deduplicated(_transitions(alerts))


def _deduplicated(transitions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What a receiver keeps: the first of each (fingerprint, sequence, time),
    after checking that every repeat is the same transition."""
    kept: dict[tuple[str, int, int], dict[str, Any]] = {}
    for t in transitions:
        key = (t["fingerprint"], t["sequence"], t["time"])
        if key in kept:
            assert kept[key] == t, f"a repeat that differs: {kept[key]} and {t}"
        else:
            kept[key] = t
    return list(kept.values())


def _reference(archive: str, rules_path: Path) -> list[dict[str, Any]]:
    """The pure stage over the archive topic as the broker holds it, one
    partition after the other, each in order, as the worker reads them."""
    rules = load_rules(rules_path)
    states: dict[str, Any] = {}
    transitions: list[dict[str, Any]] = []
    for record in sorted(kafka.read_all(archive), key=lambda r: (r.partition, r.offset)):
        output = evaluate(
            [ArchiveInput(Origin(archive, record.partition, record.offset), record.value)],
            rules,
            states,
            0.0,
        )
        transitions += [orjson.loads(value) for _, value in output.transitions]
        for key, (_, value) in output.states.items():
            if value is None:
                states.pop(key, None)
            else:
                states[key] = value
    return transitions


def _by_series(transitions: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    series: dict[str, list[dict[str, Any]]] = {}
    for t in transitions:
        series.setdefault(t["fingerprint"], []).append(t)
    return series


def _summary(transitions: list[dict[str, Any]]) -> list[tuple[str, str, str, str, int]]:
    return sorted(
        (t["alertname"], t["tags"]["engine"], t["previous"], t["state"], (t["time"] - T0) // S)
        for t in transitions
    )


def test_transitions_through_a_kill_while_firing(
    workers: Callable[..., Process], unique: Callable[[str], str], tmp_path: Path
) -> None:
    archive, alerts = unique("archive"), unique("alerts")
    kafka.create_topic(archive, PARTITIONS)
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES, encoding="utf-8")
    app_id = unique("app")
    env = base_env(
        app_id,
        archive_topic=archive,
        alerts_topic=alerts,
        alert_rules=str(rules),
        partitions=str(PARTITIONS),
        # No wall clock in this test: an idle partition's clock stays where its points left it.
        alerts_idle="3600",
    )
    env.update(FAST_FAULTS)

    # The first worker commits nothing: killed, its whole input comes again.
    first = workers(
        ["alerts", "-l", "info"], {**env, "BROKER_COMMIT_INTERVAL": "3600"}, name="alerts-0"
    )
    first.wait_for_log("Ready", timeout=90)
    assert wait_until(lambda: f"| {archive} " in first.log(), timeout=60), first.tail()
    _produce(archive, BEFORE, 0)
    before = _distinct(alerts, 5)
    assert _summary(before) == [
        ("EngineError", "e2", "inactive", "firing", 12),
        ("HighCPU", "e1", "inactive", "pending", 0),
        ("HighCPU", "e1", "pending", "firing", 10),
        ("HighCPU", "e2", "inactive", "pending", 0),
        ("HighCPU", "e2", "pending", "inactive", 5),
    ]

    # A crash while both alerts fire, before any offset was committed.
    first.kill()
    supervisor = Supervisor(
        lambda n: workers(["alerts", "-l", "info"], env, name=f"alerts-{n + 1}")
    )
    second = supervisor.workers[0]
    second.wait_for_log("Ready", timeout=90)
    assert wait_until(lambda: f"| {archive} " in second.log(), timeout=60), second.tail()
    _produce(archive, AFTER, len(BEFORE))
    everything = _distinct(alerts, 7)
    supervisor.stop()
    # The input came again: skipped, as the table says it was applied, or (were
    # the table's writes lost with the worker) evaluated again, to the same
    # transitions: then repeats are on the topic, identical (_deduplicated).
    skipped = [int(n) for n in re.findall(r"redelivered=(\d+)", supervisor.log())]
    assert sum(skipped) > 0 or len(_transitions(alerts)) > len(everything), supervisor.log()
    assert _summary(everything) == [
        ("EngineError", "e2", "firing", "resolved", 25),
        ("EngineError", "e2", "inactive", "firing", 12),
        ("HighCPU", "e1", "firing", "resolved", 30),
        ("HighCPU", "e1", "inactive", "pending", 0),
        ("HighCPU", "e1", "pending", "firing", 10),
        ("HighCPU", "e2", "inactive", "pending", 0),
        ("HighCPU", "e2", "pending", "inactive", 5),
    ]
    # Each series' transitions count up from 1: nothing was announced as new twice.
    for series in _by_series(everything).values():
        assert [t["sequence"] for t in sorted(series, key=lambda t: t["time"])] == list(
            range(1, len(series) + 1)
        )
    # And every one is, field by field, what the pure stage gives for the archive
    # topic as the broker holds it (the worker's own points included).
    reference = _reference(archive, rules)
    assert sorted(everything, key=_order) == sorted(reference, key=_order)
    fired = next(t for t in everything if t["alertname"] == "HighCPU" and t["state"] == "firing")
    assert fired["annotations"] == {"summary": "CPU of iris on e1 at 97 %"}
    assert fired["labels"] == {
        "alertname": "HighCPU",
        "severity": "warning",
        "engine": "e1",
        "model": "iris",
    }


def _order(transition: dict[str, Any]) -> tuple[str, int]:
    return transition["fingerprint"], transition["sequence"]


def test_an_idle_partition_follows_the_wall_clock(
    workers: Callable[..., Process], unique: Callable[[str], str], tmp_path: Path
) -> None:
    """An engine alone in its partition stops: with no other point to move the
    partition's clock, the wall clock does, once the partition was idle for
    ENGINEWATCH_ALERTS_IDLE; the no-data is stamped at its deadline."""
    archive, alerts = unique("archive"), unique("alerts")
    kafka.create_topic(archive, 1)
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "rules:\n  - name: Silent\n    measurement: '*'\n    group_by: [engine]\n"
        "    no_data: {after: 3s, fires: true}\n",
        encoding="utf-8",
    )
    env = base_env(
        unique("app"),
        archive_topic=archive,
        alerts_topic=alerts,
        alert_rules=str(rules),
        partitions="1",
        alerts_idle="1",
    )
    worker = workers(["alerts", "-l", "info"], env, name="alerts")
    worker.wait_for_log("Ready", timeout=90)
    assert wait_until(lambda: f"| {archive} " in worker.log(), timeout=60), worker.tail()
    _produce(archive, [("e1", [_cpu(10.0, 0)]), ("e1", [_cpu(10.0, 1)])], 0)
    (silent,) = _distinct(alerts, 1, timeout=60)
    assert (silent["state"], silent["firing"], silent["origin"]) == ("no-data", True, None)
    assert silent["time"] == T0 + 4 * S  # the last point (1 s) + no_data.after (3 s)
