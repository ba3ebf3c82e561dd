"""The monitors worker on the real broker, into InfluxDB through the archiver.

A model's input stream (two partitions: a window's profile merges both), its
predictions and the truth are produced window by window: each window's
records in any order, the next window's only once the worker took the
previous one's, so none is late whatever the interleaving of the partitions;
the label delay (10 s) outlasts a window's span, so no interleaving of
predictions and truths gives a prediction up before its truth came.
The input's distribution shifts in the second window (drift), one prediction
never gets its truth (unmatched), one input record is not JSON (a dead
letter). Mid-way, after the first windows closed, the worker is killed
(SIGKILL) before it committed anything and started again: its input comes
again, and the points in InfluxDB are, value for value, those the pure stages
give over the same records in one clean run.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import orjson

from enginewatch.core.points import Origin, decode_archive
from enginewatch.harness import influx, kafka
from enginewatch.harness.processes import Process
from monitors.app import observations_topic
from monitors.config import load_monitors
from monitors.records import readers
from monitors.stage import ObservationInput, RecordInput, evaluate, intake
from tests.support.services import base_env
from tests.support.waiting import wait_until

S = 1_000_000_000
T0 = 1_767_225_600  # 2026-01-01T00:00:00Z, seconds
# A SIGKILLed member leaves its group after 6 s, not Faust's 60 s.
FAST_FAULTS = {
    "BROKER_SESSION_TIMEOUT": "6",
    "BROKER_HEARTBEAT_INTERVAL": "1",
    "BROKER_COMMIT_INTERVAL": "0.5",
}
MONITORS = """
monitors:
  - name: demo
    model: lstm
    window: 10s
    lateness: 0s
    time: ts
    streams:
      - topic: {inputs}
        name: input
        fields: {{load: numeric, region: categorical}}
    drift: {{reference: previous}}
    quality:
      prediction: {{topic: {predictions}, field: yhat, id: id}}
      truth: {{topic: {truths}, field: y, id: id}}
      label_delay: 10s
      threshold: 1.5
"""
WINDOWS = 4
MEASUREMENTS = ("data_profile", "data_histogram", "data_drift", "model_quality")


def _window(k: int) -> dict[str, list[tuple[int | None, bytes]]]:
    """Window k's records by topic, as (partition, value); its times in [10k, 10k + 10)."""
    base = T0 + 10 * k
    shift = 5.0 if k >= 1 else 0.0  # the input's distribution moves in the second window
    inputs: list[tuple[int | None, bytes]] = [
        (
            i % 2,
            orjson.dumps(
                {
                    "ts": base + i * 0.4,
                    "load": shift + (i * 7 % 11) / 2,
                    "region": "eu" if i % 3 else "us",
                }
            ),
        )
        for i in range(20)
    ]
    if k == 0:
        inputs.append((1, b"not json"))
    predictions: list[tuple[int | None, bytes]] = [
        (None, orjson.dumps({"id": f"{k}-{i}", "ts": base + i, "yhat": 10.0 + i})) for i in range(6)
    ]
    # Each truth 2 s after its prediction; the last prediction of window 1 gets none.
    truths: list[tuple[int | None, bytes]] = [
        (None, orjson.dumps({"id": f"{k}-{i}", "ts": base + i + 2, "y": 10.0 + i + (i % 3 - 1)}))
        for i in range(6)
        if not (k == 1 and i == 5)
    ]
    return {"inputs": inputs, "predictions": predictions, "truths": truths}


def _observed(topic: str) -> int:
    """The distinct observations the monitors' topic holds (a redelivered
    record's repeat is the same observation)."""
    records = kafka.read_all(topic) if kafka.partitions(topic) else []
    seen = {(o["k"], *o["o"]) for r in records for o in orjson.loads(r.value or b"[]")}
    return len(seen)


def _reference(path: Path, topics: dict[str, str]) -> dict[tuple[Any, ...], dict[str, Any]]:
    """The pure stages over every record, window after window, as one clean run."""
    monitors = load_monitors(path)
    by_topic = readers(monitors)
    offsets: dict[tuple[str, int], int] = {}
    states: dict[str, Any] = {}
    points: dict[tuple[Any, ...], dict[str, Any]] = {}
    internal = 0
    for k in range(WINDOWS):
        records = []
        for role, entries in _window(k).items():
            for partition, value in entries:
                where = (topics[role], partition or 0)
                offsets[where] = offsets.get(where, -1) + 1
                records.append(RecordInput(Origin(*where, offsets[where]), 0, value))
        taken = intake(records, by_topic)
        batch = []
        for _, value in taken.observations:
            batch.append(ObservationInput(Origin("observations", 0, internal), value))
            internal += 1
        output = evaluate(batch, monitors, states)
        for key, (_, state) in output.states.items():
            states[key] = state
        for _, message in output.points:
            for p in decode_archive(message):
                if p.measurement in MEASUREMENTS:
                    points[_key(p.measurement, p.tags, p.time)] = dict(p.fields)
    return points


def _key(measurement: str, tags: Mapping[str, str], time: int) -> tuple[Any, ...]:
    return (measurement, tuple(sorted(tags.items())), time)


def _in_influx(database: str) -> dict[tuple[Any, ...], dict[str, Any]]:
    points: dict[tuple[Any, ...], dict[str, Any]] = {}
    tag_names = {"model", "monitor", "stream", "field", "window", "bucket", "class"}
    for measurement in MEASUREMENTS:
        try:
            rows = influx.rows(database, f'SELECT * FROM "{measurement}" GROUP BY *')
        except Exception:  # the database or measurement is not there yet
            return {}
        for row in rows:
            tags = {k: v for k, v in row.items() if k in tag_names and v not in (None, "")}
            fields = {
                k: v
                for k, v in row.items()
                if k not in tag_names and k not in ("time", "_measurement") and v is not None
            }
            points[_key(measurement, tags, row["time"])] = fields
    return points


def _same(got: dict[str, Any], wanted: dict[str, Any]) -> bool:
    if set(got) != set(wanted):
        return False
    for name, value in wanted.items():
        if isinstance(value, float):
            if not math.isclose(got[name], value, rel_tol=1e-9, abs_tol=1e-12):
                return False
        elif got[name] != value:
            return False
    return True


def test_profiles_drift_and_quality_through_a_kill(
    workers: Callable[..., Process],
    unique: Callable[[str], str],
    database: str,
    tmp_path: Path,
) -> None:
    topics = {role: unique(role) for role in ("inputs", "predictions", "truths")}
    kafka.create_topic(topics["inputs"], 2)
    kafka.create_topic(topics["predictions"], 1)
    kafka.create_topic(topics["truths"], 1)
    archive, dead = unique("archive"), unique("dead")
    path = tmp_path / "monitors.yaml"
    path.write_text(MONITORS.format(**topics), encoding="utf-8")
    app_id = unique("app")
    env = base_env(
        app_id,
        archive_topic=archive,
        dead_letter_topic=dead,
        monitors=str(path),
        partitions="2",
        influx_bucket=database,
        batch_seconds="0.2",
    )
    env.update(FAST_FAULTS)
    env["APP_DATADIR"] = str(tmp_path / "faust")
    influx.create_database(database)
    workers(["archiver", "-l", "info"], env, name="archiver")
    internal = observations_topic(app_id)
    expected_observations = 0

    def produce(k: int) -> None:
        nonlocal expected_observations
        for role, entries in _window(k).items():
            for partition in sorted({p for p, _ in entries}, key=lambda p: p or 0):
                values = [value for p, value in entries if p == partition]
                kafka.produce(topics[role], values, partition=partition)
            expected_observations += len(entries)

    # The first worker commits nothing: killed, its whole input comes again.
    first = workers(
        ["monitors", "-l", "info"], {**env, "BROKER_COMMIT_INTERVAL": "3600"}, name="monitors-0"
    )
    first.wait_for_log("Ready", timeout=90)
    for k in (0, 1):
        produce(k)
        assert wait_until(lambda: _observed(internal) >= expected_observations, 60), first.tail()
    # Window 0 closed (window 1's records moved both clocks past it).
    assert wait_until(lambda: "closed=" in first.log(), 60), first.tail()
    first.kill()

    # A worker that was handed input past a gap stops (exit 1) for its supervisor
    # to start it again (enginewatch/core/continuity.py): this test supervises.
    started = [workers(["monitors", "-l", "info"], env, name="monitors-1")]
    started[0].wait_for_log("Ready", timeout=90)

    def supervised(condition: Callable[[], bool], timeout: float) -> bool:
        def check() -> bool:
            if started[-1].exit_code() == 1:
                name = f"monitors-{len(started) + 1}"
                started.append(workers(["monitors", "-l", "info"], env, name=name))
            return condition()

        return wait_until(check, timeout)

    def logs() -> str:
        return "".join(worker.log() for worker in started)

    for k in range(2, WINDOWS):
        produce(k)
        assert supervised(lambda: _observed(internal) >= expected_observations, 90), logs()

    # The input came again: each repeat skipped, as the states say it was applied.
    assert supervised(lambda: "redelivered=" in logs(), 60), logs()
    skipped = [int(n) for n in re.findall(r"redelivered=(\d+)", logs())]
    assert sum(skipped) > 0, logs()

    wanted = _reference(path, topics)
    # Windows 0 to 2 close (window 3's records move the clocks past them).
    assert {key[2] for key in wanted} == {(T0 + 10 * k) * S for k in range(WINDOWS - 1)}
    assert supervised(lambda: len(_in_influx(database)) >= len(wanted), 90), logs()
    got = _in_influx(database)
    assert set(got) == set(wanted)
    wrong = [key for key in wanted if not _same(got[key], wanted[key])]
    assert wrong == [], (wrong[:3], [got[k] for k in wrong[:3]], [wanted[k] for k in wrong[:3]])

    # What the figures say: drift in window 1, one unmatched prediction there.
    def at(measurement: str, k: int, field: str, stream: str) -> dict[str, Any]:
        tags = {
            "model": "lstm",
            "monitor": "demo",
            "stream": stream,
            "field": field,
            "window": "10s",
        }
        return got[_key(measurement, tags, (T0 + 10 * k) * S)]

    assert at("data_drift", 1, "load", "input")["drifted"] == 1
    assert at("data_drift", 2, "load", "input")["drifted"] == 0
    assert at("data_profile", 0, "load", "input")["invalid"] == 1
    assert at("data_profile", 0, "*", "input")["records"] == 21
    quality = at("model_quality", 1, "yhat", topics["predictions"])
    assert (quality["matched"], quality["unmatched"], quality["coverage"]) == (5, 1, 5 / 6)
    assert at("model_quality", 0, "yhat", topics["predictions"])["mae"] == 2 / 3

    # The record that is not JSON is a dead letter, with its origin.
    letters = [orjson.loads(r.value or b"{}") for r in kafka.consume(dead, 1, settle=1.0)]
    assert {(d["stage"], d["topic"], d["partition"], d["value"]) for d in letters} == {
        ("monitors", topics["inputs"], 1, "not json")
    }
    assert "not JSON" in letters[0]["error"]
