"""Faults mid-stream, on the real broker and InfluxDB: every point exactly as one clean pass gives.

One recording (`tests/recordings/faults.jsonl`, written by `recording_lines`
below) is replayed at a steady pace into a 4-partition input, keyed by `src`,
through the agents (the default two-hop topology) and the archiver, running as
real processes. While it streams, one fault strikes: a worker killed, stopped
or added, InfluxDB killed or frozen, the broker restarted. Once the fault is
recovered from and everything is drained, InfluxDB must hold exactly the points
the metric contract gives for the recording, computed in this process with the
agents' own pure stage (`agents.stages.derive_archive`) over the input topic as
the broker holds it: the same series, the same fields, the same values (floats
compared exactly; InfluxDB answers with their shortest round-trip form), the
same field types. The recording carries amounts across reports with
`delta_time` zero or missing, so a redelivered input applied twice shows as a
wrong rate. Every invalid line must be dead-lettered, from its own position; a
fault that restarts or rebalances the agents may repeat a dead letter, never
with another reason.

The InfluxDB faults strike a private influxd (tests/support/influxd.py), the
broker restart a private Kafka broker (tests/support/kafkad.py): the shared
services stay untouched for the tests running beside these.
"""

from __future__ import annotations

import json
import random
import re
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka.partitioner import murmur2

from agents.records import Input
from agents.resolve.resolver import UNKNOWN
from agents.stages import derive_archive
from enginewatch.core.deadletters import original_value
from enginewatch.core.points import FieldValue, Origin, Point, decode_archive
from enginewatch.harness import kafka
from enginewatch.harness.processes import Process
from tests.support import archive
from tests.support.influxd import PrivateInfluxd
from tests.support.kafkad import PrivateKafka
from tests.support.services import INFLUX_URL, base_env
from tests.support.waiting import wait_until

RECORDING = Path(__file__).resolve().parents[1] / "recordings" / "faults.jsonl"
PARTITIONS = 4
RATE = 200  # input messages per second: the recording streams for about 14 s
FAULT_AT = 3.0  # seconds into the stream
DRAIN_TIMEOUT = 120.0
# Faust's worker settings, read from the environment, that make faults quick to
# notice: a SIGKILLed member leaves its group after 6 s (not Faust's 60 s), and
# acknowledged offsets are committed every half second.
FAST_FAULTS = {
    "BROKER_SESSION_TIMEOUT": "6",
    "BROKER_HEARTBEAT_INTERVAL": "1",
    "BROKER_COMMIT_INTERVAL": "0.5",
}

# --- the recording ---------------------------------------------------------------------

SEED = 20260302
ENGINE_COUNT = 6
ROUNDS = 80
START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
MODEL_NAMES = [
    "fraud model, v=2",
    "Prévision de la demande",
    'churn "beta"',
    "credit-approval",
    "模型 ranking",
]  # the sixth engine is in no map: model=unknown
COUNT_TAPS = [
    "manifold.0.records.count",
    "manifold.1.records.count",
    "manifold.0.records.size",
    "jet.1.input.records.count",
    "jet.1.output.records.count",
]
REJECTION_TAPS = [
    "manifold.0.records.rejected.by.schema",
    "manifold.1.records.rejected.by.encoding",
]
STATES = ["init", "RUNNING", "Paused", "error", "running", "finishing", "rebooting"]
LEVELS = [128, 64, 64, 32, 16, 8, 4, 2, 1, 7]


def engines() -> list[str]:
    """Six engine UUIDs whose `src` keys spread over all four input partitions (the
    replay's default partitioner: murmur2), at most two to a partition."""
    chosen: list[str] = []
    taken: Counter[int] = Counter()
    index = 0
    while len(chosen) < ENGINE_COUNT:
        engine = str(uuid.uuid5(uuid.NAMESPACE_URL, f"enginewatch/faults/engine/{index}"))
        index += 1
        partition = (murmur2(engine.encode()) & 0x7FFFFFFF) % PARTITIONS
        if taken[partition] < (1 if len(chosen) < PARTITIONS else 2):
            chosen.append(engine)
            taken[partition] += 1
    return chosen


ENGINES = engines()
MODELS = dict(zip(ENGINES, MODEL_NAMES, strict=False))


def _stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _count_report(rng: random.Random, message: dict[str, Any]) -> None:
    message["tap"] = rng.choice(COUNT_TAPS)
    if rng.random() < 0.3:
        message["data"] = [rng.randint(0, 60) for _ in range(rng.randint(0, 4))]
    else:
        message["data"] = rng.randint(0, 500)
    # Half the reports carry their amount forward, with delta_time 0 or none at all.
    carry = rng.random()
    if carry < 0.25:
        message["delta_time"] = 0
    elif carry < 0.5:
        pass
    else:
        message["delta_time"] = rng.randint(1, 3000) / 1000


def _rejection_report(rng: random.Random, message: dict[str, Any]) -> None:
    message["tap"] = rng.choice(REJECTION_TAPS)
    if rng.random() < 0.5:
        records: list[Any] = [{"x": 1}, "bad", None, [1, 2], 3.5]
        message["data"] = records[: rng.randint(0, len(records))]
    else:
        message["data"] = rng.randint(0, 9)
    if rng.random() < 0.5:
        message["delta_time"] = 1


def _gauge_report(rng: random.Random, message: dict[str, Any]) -> None:
    tap = rng.choice(["sys.cpu.utilization", "sys.memory", "model.latency.ms"])
    message["tap"] = tap
    if tap == "sys.cpu.utilization":
        message["data"] = round(rng.uniform(0, 100), 2)
    elif tap == "sys.memory":
        # Sometimes samples, sometimes none at all: an empty list gives no point.
        samples = [rng.randint(100, 900) * 1_048_576 for _ in range(rng.choice([0, 1, 3]))]
        message["data"] = samples if rng.random() < 0.6 else rng.randint(100, 900) * 1_048_576
    else:
        message["data"] = [rng.randint(1, 5000) / 100 for _ in range(rng.randint(1, 3))]
    message["delta_time"] = 1


def _event(rng: random.Random, message: dict[str, Any], sequence: int) -> None:
    kind = rng.choice(["engine-state", "health", "log", "engine-config", "model-console"])
    message["type"] = kind
    if kind == "engine-state":
        message["state"] = rng.choice(STATES)
    elif kind == "health":
        message["instance"] = rng.choice(["engine", "model-runner", "db pool"])
        message["health"] = rng.choice(["ok", "ok", "fail", "degraded"])
    elif kind == "log":
        message["level"] = rng.choice(LEVELS)
        message["text"] = f'record {sequence}: "scored", path C:\\models\\{sequence % 7}'
    elif kind == "engine-config":
        message["item"] = rng.choice(["model", "stream", "jets"])
        message["op"] = rng.choice(["put", "delete", "scale"])
        if rng.random() < 0.7:
            message["ref"] = rng.choice(["iris-v2", 3, 2.5, True, None])
    else:
        message["text"] = rng.choice(
            [
                f"step {sequence} done",
                "Traceback (most recent call last):\n  ValueError",
                "ünïcode ✓",
            ]
        )


def _invalid(rng: random.Random, src: str, when: datetime, sequence: int) -> bytes:
    kind = rng.randrange(3)
    if kind == 0:
        return f"engine {src} lost its JSON at {sequence}".encode()
    if kind == 1:
        # A type that is not a string: unknown, whatever types the agents count.
        kind_value = rng.choice([7, ["sensor-report"]])
        message: dict[str, Any] = {"type": kind_value, "src": src, "timestamp": _stamp(when)}
    else:
        message = {
            "type": "sensor-report",
            "src": src,
            "timestamp": _stamp(when),
            "tap": rng.choice(COUNT_TAPS),
            "data": rng.choice([-3, [2, -1]]),
            "delta_time": rng.choice([0, 1]),
        }
    return orjson.dumps(message)


def recording_lines() -> list[tuple[bytes, bool]]:
    """The recording, deterministically: each line and whether it is a valid message.

    Rounds of the six engines in turn, 2 to 10 lines each; every line of an
    engine a few milliseconds after its previous one, so no two reports of an
    engine share a time (InfluxDB keeps one point per series and time).
    """
    rng = random.Random(SEED)
    clocks = {engine: START + timedelta(microseconds=137 * i) for i, engine in enumerate(ENGINES)}
    lines: list[tuple[bytes, bool]] = []
    for _ in range(ROUNDS):
        for engine in ENGINES:
            for _ in range(rng.randint(2, 10)):
                clocks[engine] += timedelta(microseconds=rng.randint(2_000, 30_000))
                when, sequence = clocks[engine], len(lines)
                roll = rng.random()
                if roll < 0.025:
                    lines.append((_invalid(rng, engine, when, sequence), False))
                    continue
                message: dict[str, Any] = {
                    "type": "sensor-report",
                    "src": engine,
                    "timestamp": _stamp(when),
                }
                if roll < 0.55:
                    _count_report(rng, message)
                elif roll < 0.65:
                    _rejection_report(rng, message)
                elif roll < 0.82:
                    _gauge_report(rng, message)
                else:
                    _event(rng, message, sequence)
                if message["type"] == "sensor-report" and rng.random() < 0.3:
                    message["id"] = rng.randint(1, 12)  # the engine's sensor id, ignored
                lines.append((orjson.dumps(message), True))
    return lines


def write_recording(path: Path = RECORDING) -> None:
    path.write_bytes(b"".join(line + b"\n" for line, _ in recording_lines()))


# --- what InfluxDB must hold -----------------------------------------------------------

SeriesTime = tuple[str, frozenset[tuple[str, str]], int]  # measurement, tags, time


@dataclass(frozen=True)
class Expected:
    """One clean pass over the input: the points as InfluxDB returns them, their
    field types, and each rejected input's reason and value by its position."""

    points: dict[SeriesTime, dict[str, FieldValue]]
    field_types: dict[tuple[str, str], str]
    rejects: dict[tuple[str, int, int], tuple[str, bytes | None]]


def _field_type(value: FieldValue) -> str:
    if isinstance(value, str):
        return "string"
    return "integer" if isinstance(value, int) else "float"


def expected_from(records: Iterable[tuple[str, kafka.Record]]) -> Expected:
    """The agents' derive stage over every input record in its partition's order,
    with nothing carried at the start and every engine's model from the map."""
    inputs = [
        Input(Origin(topic, r.partition, r.offset), r.key, r.value, None) for topic, r in records
    ]
    output = derive_archive(inputs, lambda src: MODELS.get(src, UNKNOWN), {})
    points: dict[SeriesTime, dict[str, FieldValue]] = {}
    types: dict[tuple[str, str], str] = {}
    for _, value, _ in output.messages:
        for point in decode_archive(value):
            key = _series_time(point)
            assert key not in points, f"the recording has two points at one series and time: {key}"
            points[key] = dict(point.fields)
            for name, field in point.fields.items():
                types[(point.measurement, name)] = _field_type(field)
    rejects = {
        (r.origin.topic, r.origin.partition, r.origin.offset): (r.reason, r.value)
        for r in output.rejects
    }
    return Expected(points, types, rejects)


def _series_time(point: Point) -> SeriesTime:
    return point.measurement, frozenset((k, v) for k, v in point.tags.items() if v), point.time


def points_found(url: str, database: str) -> dict[SeriesTime, dict[str, FieldValue]]:
    found: dict[SeriesTime, dict[str, FieldValue]] = {}
    for measurement, tags, fields, time_ns in archive.points_in(url, database):
        key = (measurement, tags, time_ns)
        assert key not in found, f"InfluxDB returned {key} twice"
        found[key] = dict(fields)
    return found


def _show(key: SeriesTime) -> str:
    measurement, tags, time_ns = key
    return f"{measurement} {dict(sorted(tags))} @{time_ns}"


def assert_same_points(
    expected: dict[SeriesTime, dict[str, FieldValue]],
    found: dict[SeriesTime, dict[str, FieldValue]],
) -> None:
    """Every point, field by field and value by value (10 and 10.0 are one value:
    InfluxDB's JSON writes a whole float without its decimal point)."""
    missing = sorted(expected.keys() - found.keys())
    extra = sorted(found.keys() - expected.keys())
    wrong = sorted(k for k in expected.keys() & found.keys() if expected[k] != found[k])
    problems = [f"missing {_show(k)}: {expected[k]}" for k in missing[:10]]
    problems += [f"unexpected {_show(k)}: {found[k]}" for k in extra[:10]]
    problems += [f"{_show(k)}: expected {expected[k]}, found {found[k]}" for k in wrong[:20]]
    assert not problems, (
        f"{len(expected)} points expected, {len(found)} found: {len(missing)} missing, "
        f"{len(extra)} unexpected, {len(wrong)} with other values\n" + "\n".join(problems)
    )


# --- the scenario runner ---------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    """What strikes mid-stream and how the system is brought back (`strike` does both,
    returning once the fault is over), and what else must hold afterwards."""

    name: str
    strike: Callable[[Scenario], None]
    agents: int = 1  # agents workers before the fault
    private_influxd: bool = False
    private_kafka: bool = False
    # The agents were restarted or rebalanced: a batch may be taken again, so a
    # dead letter may repeat (with the same origin and reason).
    repeats_dead_letters: bool = False
    # A worker whose batch failed, or that was handed input past a gap, stops
    # (exit 1) for its supervisor to start it again: the runner does so when the
    # fault may make a batch fail or restarts or rebalances the agents.
    supervised: bool = False
    check: Callable[[Scenario], None] | None = None  # once everything is drained


class Scenario:
    """The recording through the agents and the archiver, on fresh topics and a fresh
    database, with one fault mid-stream; then every point and dead letter checked."""

    def __init__(
        self,
        fault: Fault,
        workers: Callable[..., Process],
        unique: Callable[[str], str],
        tmp_path: Path,
        database: str,
    ) -> None:
        self.fault = fault
        self._start_worker = workers
        self.kafka = PrivateKafka(tmp_path / "kafka") if fault.private_kafka else None
        self.influxd = PrivateInfluxd(tmp_path / "influxd") if fault.private_influxd else None
        self.bootstrap = self.kafka.bootstrap if self.kafka else kafka.LOCAL_BOOTSTRAP
        self.influx_url = self.influxd.url if self.influxd else INFLUX_URL
        self.database = database
        app_id = unique("app")
        self.notify, self.archive, self.dead = unique("notify"), unique("archive"), unique("dead")
        self.agents_group, self.archiver_group = f"{app_id}-agents", f"{app_id}-archiver"
        self.by_engine = f"{app_id}-agents-by-engine"
        engine_map = tmp_path / "engines.json"
        engine_map.write_text(json.dumps(MODELS, ensure_ascii=False), encoding="utf-8")
        self.env = base_env(
            app_id,
            broker=self.kafka.broker_url if self.kafka else kafka.LOCAL_BROKER,
            influx_url=self.influx_url,
            influx_bucket=database,
            influx_timeout="5",  # a frozen InfluxDB times requests out, and they are retried
            input_topic=self.notify,
            archive_topic=self.archive,
            dead_letter_topic=self.dead,
            engine_map=str(engine_map),
            partitions=str(PARTITIONS),
            batch_points="200",
            batch_seconds="0.2",
        )
        self.env.update(FAST_FAULTS)
        self.lines = recording_lines()
        self.agents: list[Process] = []
        self.archivers: list[Process] = []
        self.ended: list[Process] = []  # the workers the fault ended on purpose
        self.restarted: list[str] = []  # the workers the supervisor started again
        self.phases: dict[str, float] = {}
        self.summary = ""

    # What faults use.

    def start_agents(self) -> Process:
        worker = self._start_worker(
            ["agents", "-l", "info"], self.env, name=f"agents-{len(self.agents)}"
        )
        self.agents.append(worker)
        return worker

    def start_archiver(self) -> Process:
        worker = self._start_worker(
            ["archiver", "-l", "info"], self.env, name=f"archiver-{len(self.archivers)}"
        )
        self.archivers.append(worker)
        return worker

    def kill(self, worker: Process) -> None:
        """SIGKILL: a crash."""
        worker.kill()
        self.ended.append(worker)

    def stop(self, worker: Process) -> None:
        """SIGTERM: a clean shutdown; the worker leaves its group."""
        worker.stop()
        self.ended.append(worker)

    def assigned_input(self, worker: Process, partitions: str = "") -> bool:
        """Whether the worker logged an assignment of input partitions (any, or e.g.
        `{0-3}`), as Faust's assignment table shows it."""
        pattern = rf"\| {re.escape(self.notify)} +\| {re.escape(partitions) or '{'}"
        return re.search(pattern, worker.log()) is not None

    # The run.

    def run(self) -> None:
        with self._services():
            self._phase("start", self._prepare)
            self._phase("stream", self._stream_with_fault)
            self._phase("drain", self._drain)
            self._phase("check", self._check)
            if self.fault.check is not None:
                self.fault.check(self)
        times = ", ".join(f"{phase} {seconds:.1f}s" for phase, seconds in self.phases.items())
        print(f"\n{self.fault.name}: {times}; {self.summary}")

    def _phase(self, name: str, step: Callable[[], None]) -> None:
        started = time.monotonic()
        step()
        self.phases[name] = time.monotonic() - started

    @contextmanager
    def _services(self) -> Iterator[None]:
        try:
            if self.kafka:
                self.kafka.start()
            if self.influxd:
                self.influxd.start()
            yield
        finally:
            # Workers first, while the services they talk to are still there, and
            # all at once: each takes a second or two to leave its group.
            running = [w for w in [*self.agents, *self.archivers] if w.running()]
            with ThreadPoolExecutor(max(1, len(running))) as pool:
                list(pool.map(lambda w: w.stop(), running))
            if self.influxd:
                self.influxd.stop()
            if self.kafka:
                self.kafka.stop()

    def _prepare(self) -> None:
        for topic, partitions in ((self.notify, PARTITIONS), (self.archive, PARTITIONS)):
            kafka.create_topic(topic, partitions, bootstrap=self.bootstrap)
        kafka.create_topic(self.dead, 1, bootstrap=self.bootstrap)
        started = [self.start_archiver()] + [self.start_agents() for _ in range(self.fault.agents)]
        for worker in started:
            worker.wait_for_log("Ready", timeout=90)
        # The group settled: the last agents worker to join has its share of the input.
        last = self.agents[-1]
        assert wait_until(lambda: self.assigned_input(last), timeout=60), last.tail()

    def _stream_with_fault(self) -> None:
        replay = self._start_worker(
            ["replay", str(RECORDING), "--topic", self.notify, "--rate", str(RATE), "--key", "src"],
            self.env,
            name="replay",
        )
        time.sleep(FAULT_AT)
        assert replay.running(), f"the recording was over before the fault:\n{replay.tail()}"
        self.fault.strike(self)
        assert self._wait(lambda: not replay.running()), replay.tail()
        assert replay.exit_code() == 0, replay.tail()
        assert f"replayed {len(self.lines):,} message(s)" in replay.log()

    def _wait(self, condition: Callable[[], bool], timeout: float = 120.0) -> bool:
        """`wait_until`, meanwhile starting again, as a supervisor does, a worker that
        stopped after a failed batch (exit 1) when the fault is supervised."""

        def supervised() -> bool:
            self._restart_failed()
            return condition()

        return wait_until(supervised, timeout)

    def _restart_failed(self) -> None:
        if not self.fault.supervised:
            return
        for workers, start in (
            (self.agents, self.start_agents),
            (self.archivers, self.start_archiver),
        ):
            for worker in list(workers):
                if worker not in self.ended and worker.exit_code() == 1:
                    self.ended.append(worker)
                    self.restarted.append(worker.name)
                    start()

    def _drain(self) -> None:
        assert self._wait(self._drained, DRAIN_TIMEOUT), self._lag()

    def _drained(self) -> bool:
        """Every input routed, every by-engine message derived, every archive message
        written: each group's committed offsets reached the end of what it reads (in
        this order, as a stage's output is complete once its input is committed)."""
        b = self.bootstrap
        return (
            kafka.committed(self.agents_group, self.notify, bootstrap=b) == len(self.lines)
            and kafka.committed(self.agents_group, self.by_engine, bootstrap=b)
            == kafka.size(self.by_engine, bootstrap=b)
            and kafka.committed(self.archiver_group, self.archive, bootstrap=b)
            == kafka.size(self.archive, bootstrap=b)
        )

    def _lag(self) -> str:
        b = self.bootstrap
        return (
            f"not drained in {DRAIN_TIMEOUT:g}s: committed input "
            f"{kafka.committed(self.agents_group, self.notify, bootstrap=b)}/{len(self.lines)}, "
            f"by-engine {kafka.committed(self.agents_group, self.by_engine, bootstrap=b)}/"
            f"{kafka.size(self.by_engine, bootstrap=b)}, archive "
            f"{kafka.committed(self.archiver_group, self.archive, bootstrap=b)}/"
            f"{kafka.size(self.archive, bootstrap=b)}"
        )

    def _check(self) -> None:
        records = kafka.read_all(self.notify, bootstrap=self.bootstrap)
        # The input holds the recording, each line once (the replay's producer is idempotent).
        assert Counter(r.value for r in records) == Counter(line for line, _ in self.lines)
        expected = expected_from(
            (self.notify, r) for r in sorted(records, key=lambda r: (r.partition, r.offset))
        )
        assert len(expected.rejects) == sum(1 for _, valid in self.lines if not valid)

        # InfluxDB holds everything once the archiver committed it; a point missing
        # (or one too many) is reported by the comparison.
        wait_until(
            lambda: archive.count_in(self.influx_url, self.database) >= len(expected.points), 10
        )
        found = points_found(self.influx_url, self.database)
        assert_same_points(expected.points, found)
        assert archive.field_types(self.influx_url, self.database) == expected.field_types

        letters = [
            orjson.loads(r.value or b"")
            for r in kafka.read_all(self.dead, bootstrap=self.bootstrap)
        ]
        first = assert_dead_letters(letters, expected.rejects)
        if not self.fault.repeats_dead_letters:
            assert len(letters) == len(first)
        # Every worker the fault did not end is still running.
        for worker in [*self.agents, *self.archivers]:
            if worker not in self.ended:
                worker.check()
        # What the fault made the agents do twice (points InfluxDB overwrote).
        archived = sum(
            len(decode_archive(r.value or b""))
            for r in kafka.read_all(self.archive, bootstrap=self.bootstrap)
        )
        self.summary = (
            f"{len(found)} points, {archived - len(found)} archived twice; "
            f"{len(first)} dead letters, {len(letters) - len(first)} repeated"
            + (f"; restarted after a failed batch: {self.restarted}" if self.restarted else "")
        )


def assert_dead_letters(
    letters: list[dict[str, Any]], rejects: dict[tuple[str, int, int], tuple[str, bytes | None]]
) -> dict[tuple[str, int, int], dict[str, Any]]:
    """One dead letter per rejected input, from its position, with its reason and value;
    a repeat has the origin and reason of its first copy. The first copies, by origin."""
    first: dict[tuple[str, int, int], dict[str, Any]] = {}
    for letter in letters:
        origin = (letter["topic"], letter["partition"], letter["offset"])
        if origin in first:
            assert (letter["stage"], letter["error"]) == (
                first[origin]["stage"],
                first[origin]["error"],
            ), f"a repeated dead letter differs from its first copy: {letter}"
        else:
            first[origin] = letter
    assert sorted(first) == sorted(rejects), "dead letters from other positions than the rejects"
    for origin, letter in first.items():
        reason, value = rejects[origin]
        assert (letter["stage"], letter["error"]) == ("agents", reason), letter
        assert original_value(letter) == value, letter
    return first


# --- the faults ------------------------------------------------------------------------

RESTART_AFTER = 3.0
INFLUXD_DOWN = 10.0
INFLUXD_FROZEN = 15.0
BROKER_DOWN = 10.0


def stop_one_of_two_agents(s: Scenario) -> None:
    s.stop(s.agents[0])


def scale_agents_to_two(s: Scenario) -> None:
    s.start_agents()


def kill_agents(s: Scenario) -> None:
    s.kill(s.agents[0])
    time.sleep(RESTART_AFTER)
    s.start_agents()


def kill_archiver(s: Scenario) -> None:
    s.kill(s.archivers[0])
    time.sleep(RESTART_AFTER)
    s.start_archiver()


def kill_influxd(s: Scenario) -> None:
    assert s.influxd is not None
    s.influxd.kill()
    time.sleep(INFLUXD_DOWN)
    s.influxd.start()


def freeze_influxd(s: Scenario) -> None:
    assert s.influxd is not None
    s.influxd.freeze()
    time.sleep(INFLUXD_FROZEN)
    s.influxd.thaw()


def restart_broker(s: Scenario) -> None:
    assert s.kafka is not None
    s.kafka.stop()
    time.sleep(BROKER_DOWN)
    s.kafka.start()


def the_second_agents_worker_has_all_input(s: Scenario) -> None:
    assert s.assigned_input(s.agents[1], "{0-3}"), "no agents worker took the input over"


def the_second_agents_worker_has_a_share(s: Scenario) -> None:
    assert s.assigned_input(s.agents[1]), "the added agents worker got no input partition"


def the_archiver_waited_for_influxdb(s: Scenario) -> None:
    assert "waiting for InfluxDB" in s.archivers[0].log()
    assert "takes writes again after" in s.archivers[0].log()


FAULTS = [
    Fault(
        "agents-sigkill",
        kill_agents,
        repeats_dead_letters=True,
        supervised=True,
        check=the_second_agents_worker_has_all_input,
    ),
    Fault(
        "agents-sigterm-one-of-two",
        stop_one_of_two_agents,
        agents=2,
        repeats_dead_letters=True,
        supervised=True,
        check=the_second_agents_worker_has_all_input,
    ),
    Fault(
        "agents-scaled-to-two",
        scale_agents_to_two,
        repeats_dead_letters=True,
        supervised=True,
        check=the_second_agents_worker_has_a_share,
    ),
    Fault("archiver-sigkill", kill_archiver),
    Fault(
        "influxd-killed", kill_influxd, private_influxd=True, check=the_archiver_waited_for_influxdb
    ),
    Fault(
        "influxd-frozen",
        freeze_influxd,
        private_influxd=True,
        check=the_archiver_waited_for_influxdb,
    ),
    Fault(
        "broker-restarted",
        restart_broker,
        private_kafka=True,
        repeats_dead_letters=True,
        supervised=True,
    ),
]


def test_the_recording_is_what_its_generator_writes() -> None:
    assert RECORDING.read_bytes() == b"".join(line + b"\n" for line, _ in recording_lines()), (
        "regenerate it: .venv/bin/python -m tests.integration.test_faults"
    )
    partitions = {(murmur2(e.encode()) & 0x7FFFFFFF) % PARTITIONS for e in ENGINES}
    assert partitions == set(range(PARTITIONS)), "every input partition has an engine"


@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
def test_every_point_is_exact_after_a_fault(
    fault: Fault,
    workers: Callable[..., Process],
    unique: Callable[[str], str],
    tmp_path: Path,
    database: str,
) -> None:
    Scenario(fault, workers, unique, tmp_path, database).run()


if __name__ == "__main__":
    write_recording()
