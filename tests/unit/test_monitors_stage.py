"""The monitors' stages under faults: whatever the batches, restarts, redeliveries
and crashes between delivering points and keeping states, the points in InfluxDB
(the last written per series and time) are those of one clean run; and records
spread over partitions, in any interleaving the lateness allows, give the
profile their union gives."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from enginewatch.core.points import Origin, decode_archive
from monitors.config import Monitors, monitors_from
from monitors.records import readers
from monitors.stage import ObservationInput, RecordInput, evaluate, intake
from monitors.state import MAX_PENDING

S = 1_000_000_000
T0 = 1_767_225_600
MONITORS = """
monitors:
  - name: m
    model: model
    window: 10s
    lateness: 3s
    time: ts
    streams:
      - topic: in
        fields: {x: numeric, c: categorical}
    drift: {reference: previous}
    quality:
      prediction: {topic: out, field: y, id: id}
      truth: {topic: truth, field: y, id: id}
      label_delay: 8s
      threshold: 1
"""


def _monitors(text: str = MONITORS) -> Monitors:
    return monitors_from(yaml.safe_load(text))


class Worker:
    """Both stages and the table; the observations topic is one partition."""

    def __init__(self, monitors: Monitors) -> None:
        self.monitors = monitors
        self.readers = readers(monitors)
        self.states: dict[str, Any] = {}
        self.internal: list[ObservationInput] = []
        self.influx: dict[tuple[Any, ...], dict[str, Any]] = {}

    def take(self, records: list[RecordInput]) -> list[ObservationInput]:
        """The intake: its observations appended to the monitors' topic."""
        start = len(self.internal)
        for _, value in intake(records, self.readers).observations:
            self.internal.append(ObservationInput(Origin("obs", 0, len(self.internal)), value))
        return self.internal[start:]

    def evaluate(self, batch: list[ObservationInput], keep: bool = True) -> None:
        output = evaluate(batch, self.monitors, self.states)
        for _, message in output.points:
            for p in decode_archive(message):
                if p.measurement != "monitor_state":
                    key = (p.measurement, tuple(sorted(p.tags.items())), p.time)
                    self.influx[key] = dict(p.fields)
        if keep:
            for name, (_, value) in output.states.items():
                self.states[name] = value

    def restart(self) -> None:
        self.states = orjson.loads(orjson.dumps(self.states))


def _records(spec: list[tuple[int, int, float, int]]) -> list[RecordInput]:
    """(topic index, time step, value, id) -> records of the three topics."""
    offsets = {"in": 0, "out": 0, "truth": 0}
    records = []
    clock = 0.0
    for topic_index, step, value, ident in spec:
        clock += step * 0.5
        topic = ("in", "out", "truth")[topic_index]
        if topic == "in":
            body: dict[str, Any] = {"ts": T0 + clock, "x": value, "c": f"c{ident % 3}"}
        else:
            body = {"ts": T0 + clock, "id": str(ident), "y": value}
        records.append(RecordInput(Origin(topic, 0, offsets[topic]), 0, orjson.dumps(body)))
        offsets[topic] += 1
    return records


record_specs = st.lists(
    st.tuples(
        st.integers(0, 2),
        st.integers(-2, 6),  # time steps, some backwards (late or within lateness)
        st.floats(-10, 10, allow_nan=False).map(lambda v: round(v, 3)),
        st.integers(0, 12),
    ),
    min_size=1,
    max_size=80,
)
Fault = tuple[int, str]
faults = st.lists(
    st.tuples(st.integers(1, 10), st.sampled_from(["none", "restart", "redeliver", "crash"])),
    max_size=12,
)


def _clean(records: list[RecordInput]) -> dict[tuple[Any, ...], dict[str, Any]]:
    worker = Worker(_monitors())
    worker.evaluate(worker.take(records))
    return worker.influx


@settings(max_examples=150, deadline=None)
@given(spec=record_specs, plan=faults)
def test_faults_give_the_points_of_a_clean_run(spec: list[Any], plan: list[Fault]) -> None:
    records = _records(spec)
    worker = Worker(_monitors())
    position = 0
    for size, fault in [*plan, (len(records), "none")]:
        batch = records[position : position + size]
        if not batch:
            break
        position += len(batch)
        observations = worker.take(batch)
        if fault == "crash":
            # The points went out, the states were not kept: the batch comes again.
            worker.evaluate(observations, keep=False)
            worker.restart()
            worker.evaluate(worker.take(batch))
        elif fault == "redeliver":
            # The intake's batch comes again (its offsets were not committed): its
            # repeats reach the evaluation after the originals.
            worker.evaluate(observations)
            worker.evaluate(worker.take(batch))
        else:
            worker.evaluate(observations)
            if fault == "restart":
                worker.restart()
    assert worker.influx == _clean(records)


@settings(max_examples=100, deadline=None)
@given(
    values=st.lists(st.floats(-100, 100, allow_nan=False), min_size=1, max_size=60),
    partitions=st.lists(st.integers(0, 1), min_size=60, max_size=60),
    order=st.randoms(use_true_random=False),
)
def test_records_of_two_partitions_merge_to_one_profile(
    values: list[float], partitions: list[int], order: Any
) -> None:
    """One window's records on two partitions, interleaved in any order the
    partitions allow (each partition's own order kept): the same profile."""
    monitors = _monitors(MONITORS.replace("lateness: 3s", "lateness: 60s"))
    offsets = [0, 0]
    by_partition: list[list[RecordInput]] = [[], []]
    for index, value in enumerate(values):
        partition = partitions[index]
        body = {"ts": T0 + index * 0.1, "x": value, "c": f"c{index % 4}"}
        origin = Origin("in", partition, offsets[partition])
        offsets[partition] += 1
        by_partition[partition].append(RecordInput(origin, 0, orjson.dumps(body)))
    # The closer: far enough ahead to close the window.
    closer = RecordInput(Origin("in", 0, offsets[0]), 0, orjson.dumps({"ts": T0 + 200, "x": 0.0}))
    interleaved: list[RecordInput] = []
    queues = [list(q) for q in by_partition]
    while any(queues):
        choices = [i for i, q in enumerate(queues) if q]
        interleaved.append(queues[order.choice(choices)].pop(0))
    profiles = []
    for sequence in (by_partition[0] + by_partition[1], interleaved):
        worker = Worker(monitors)
        worker.evaluate(worker.take([*sequence, closer]))
        profiles.append(
            {k: f for k, f in worker.influx.items() if k[0] == "data_profile" and k[2] == T0 * S}
        )
    first, second = profiles
    assert first.keys() == second.keys()
    assert first
    for key, fields in first.items():
        for name, value in fields.items():
            if isinstance(value, float) and name in ("mean", "std"):
                assert second[key][name] == pytest.approx(value, rel=1e-9, abs=1e-9)
            else:
                assert second[key][name] == value, (key, name)


def test_the_join_is_bounded() -> None:
    """Predictions that never get a truth: at most MAX_PENDING wait; the oldest
    beyond are given up on and counted unmatched."""
    monitors = _monitors(MONITORS.replace("label_delay: 8s", "label_delay: 1d"))
    records = [
        RecordInput(
            Origin("out", 0, i), 0, orjson.dumps({"ts": T0 + i * 0.001, "id": str(i), "y": 1.0})
        )
        for i in range(MAX_PENDING + 10)
    ]
    worker = Worker(monitors)
    observations = worker.take(records)
    output = evaluate(observations, monitors, {})
    assert output.counts.given_up == 10
    ((_, value),) = output.states.values()
    assert len(value["quality"]["pending"]) == MAX_PENDING
    assert "0" not in value["quality"]["pending"]  # the oldest went first


def test_malformed_and_unknown_observations_are_counted() -> None:
    monitors = _monitors()
    output = evaluate(
        [
            ObservationInput(Origin("obs", 0, 0), b"not json"),
            ObservationInput(Origin("obs", 0, 1), None),
            ObservationInput(Origin("obs", 0, 2), orjson.dumps([{"m": "gone", "k": "s"}])),
        ],
        monitors,
        {},
    )
    assert (output.counts.malformed, output.counts.unknown) == (2, 1)
    assert output.points == []
    assert output.states == {}
