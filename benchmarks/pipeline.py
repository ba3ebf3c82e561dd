"""The whole pipeline into InfluxDB: its pace against the baseline's, and its latency.

enginewatch runs as deployed by default: `enginewatch agents` (input keyed
any way, re-keyed by engine inside) and `enginewatch archiver`, each a real
process. The baseline is benchmarks/baseline, one process, on the same recording.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson
from aiokafka import AIOKafkaProducer

from benchmarks import influxio, kafkaio
from benchmarks.baseline.tutorial import MonitoringModel
from benchmarks.cpu import CpuSampler
from benchmarks.measure import Throughput, feed_and_measure, service_pids
from benchmarks.rates import Sample, percentile, steady_window
from benchmarks.session import Scale, Session, enginewatch, module
from benchmarks.workload import Expected, Recording
from enginewatch.core.influxql import InfluxQueryError
from enginewatch.harness import influx, kafka
from enginewatch.harness.processes import Process
from enginewatch.tools.fleet import FleetConfig, notifications, rfc3339

PROBE_ENGINE = "bench-latency-probe"
PROBE_TAP = "bench.latency"
PROBES_PER_SECOND = 50
WARM_UP = 2.0  # seconds of the paced stream not counted
POLL = 0.05  # how often InfluxDB is asked whether the next probes are visible
PROBE_QUERY = f'SELECT "value" FROM "sensor" WHERE "tap" = \'{PROBE_TAP}\''


@dataclass
class Pipeline:
    """enginewatch's agents and archiver, running, and where they read and write."""

    agents: Process
    archiver: Process
    input_topic: str
    database: str


@dataclass(frozen=True)
class Latency:
    p50: float
    p99: float
    max: float
    probes: int
    rate: float  # notifications per second actually sent


def start_pipeline(session: Session, engine_map: Path, **settings: str) -> Pipeline:
    """Agents and archiver as deployed by default, with `settings` (ENGINEWATCH_*) on top."""
    app_id, database = session.name("app"), session.database("pipeline")
    topic, archive = session.topic("notify"), session.topic("archive")
    env = session.env(
        app_id,
        input_topic=topic,
        archive_topic=archive,
        dead_letter_topic=session.topic("dead", partitions=1),
        engine_map=str(engine_map),
        influx_bucket=database,
        **settings,
    )
    agents = session.start("agents", enginewatch("agents", "-l", "info"), env)
    archiver = session.start("archiver", enginewatch("archiver", "-l", "info"), env)
    for worker, subscribed in ((agents, topic), (archiver, archive)):
        worker.wait_for_log("Ready", session.scale.timeout)
        worker.wait_for_log(f"| {subscribed} ", session.scale.timeout)
    return Pipeline(agents, archiver, topic, database)


def pipeline_throughput(
    session: Session, pipeline: Pipeline, recording: Recording, expected: Expected
) -> Throughput:
    """Reports per second from the input topic to queryable points in InfluxDB."""

    points = len(expected.points)

    def stored() -> list[Sample]:
        return influxio.wait_for_points(pipeline.database, points, session.scale.timeout)

    measured = feed_and_measure(
        [pipeline.agents, pipeline.archiver], pipeline.input_topic, recording, points, stored
    )
    influxio.check_field_values(pipeline.database, expected.field_values)
    per_report = points / len(recording)
    return Throughput(
        measured.rate / per_report,
        measured.cpu_us * per_report,
        measured.services_cpu_us * per_report,
    )


def baseline_throughput(
    session: Session, recording: Recording, engine_map: Path
) -> tuple[Throughput, float]:
    """The baseline worker over the same recording, read from InfluxDB the same way.

    Also returns the time span its points were stamped with, in seconds.
    """
    records = baseline_records(recording)
    written = records - records % 10  # the tutorial's archiver writes full batches of ten only
    topic, database = session.topic("baseline-in"), session.database("baseline")
    asyncio.run(kafkaio.produce(topic, recording.values, recording.keys))
    env = {
        "BASELINE_TOPIC": topic,
        "BASELINE_BOOTSTRAP": kafka.LOCAL_BOOTSTRAP,
        "BASELINE_GROUP": session.name("baseline"),
        "BASELINE_INFLUX_URL": influx.LOCAL_URL,
        "BASELINE_DATABASE": database,
        "BASELINE_ENGINE_MAP": str(engine_map),
    }
    started = time.time()
    worker = session.start("baseline", module("benchmarks.baseline"), env)
    try:
        with CpuSampler([worker.pid]) as cpu, CpuSampler(service_pids()) as services:
            samples = [
                Sample(started, 0),
                *influxio.wait_for_points(database, written, session.scale.timeout),
            ]
        window = steady_window(samples, written)
    finally:
        session.stop(worker)
    per_report = written / len(recording)
    per_unit = per_report / window.units * 1e6
    measured = Throughput(
        window.rate / per_report,
        cpu.seconds_between(window.start, window.end) * per_unit,
        services.seconds_between(window.start, window.end) * per_unit,
    )
    return measured, _stamped_span(database)


def baseline_records(recording: Recording) -> int:
    """How many records the baseline's monitoring model makes of the recording."""
    model = MonitoringModel(recording.models)
    return sum(sum(1 for _ in model.action(orjson.loads(v))) for v in recording.values)


def recording_span(recording: Recording) -> float:
    """Seconds between the recording's first and last timestamps."""
    stamps = [orjson.loads(v)["timestamp"] for v in (recording.values[0], recording.values[-1])]
    first, last = (datetime.fromisoformat(s.replace("Z", "+00:00")) for s in stamps)
    return (last - first).total_seconds()


def latency(session: Session, pipeline: Pipeline) -> Latency:
    """Produce-to-queryable latency at a steady rate, from probes among the fleet's messages.

    Every 1/50 s a probe report, stamped with the moment it is sent, goes in
    with the simulated fleet's notifications; a thread asks InfluxDB every 50 ms
    for the probes that became visible. A probe counts as visible halfway
    between the last query that did not see it and the first that did.
    """
    scale = session.scale
    seen: dict[int, float] = {}
    sent: dict[int, float] = {}
    stop = threading.Event()
    poller = threading.Thread(
        target=_poll_probes, args=(pipeline.database, seen, stop), daemon=True
    )
    poller.start()
    try:
        count, elapsed = asyncio.run(_paced(pipeline.input_topic, scale, sent))
        deadline = time.monotonic() + scale.timeout
        while len(seen) < len(sent) and time.monotonic() < deadline:
            time.sleep(POLL)
    finally:
        stop.set()
        poller.join()
    counted = [
        seen[n] - sent[n] for n in sent if n in seen and sent[n] - min(sent.values()) >= WARM_UP
    ]
    if len(seen) < len(sent) or not counted:
        raise RuntimeError(f"only {len(seen)} of {len(sent)} latency probes reached InfluxDB")
    return Latency(
        p50=percentile(counted, 50),
        p99=percentile(counted, 99),
        max=max(counted),
        probes=len(counted),
        rate=count / elapsed,
    )


async def _paced(topic: str, scale: Scale, sent: dict[int, float]) -> tuple[int, float]:
    """Send the fleet at `latency_rate` in wall-clock time, probes among it; (sent, seconds)."""
    start = datetime.now(UTC)
    fleet_rate = scale.latency_rate - PROBES_PER_SECOND
    config = FleetConfig(
        engines=20, rate=fleet_rate, start=start, duration=scale.latency_seconds, seed=11
    )
    origin_us = round(start.timestamp() * 1e6)
    probe_every_us = 1_000_000 // PROBES_PER_SECOND
    producer = AIOKafkaProducer(bootstrap_servers=kafka.LOCAL_BOOTSTRAP, linger_ms=2)
    await producer.start()
    count, next_probe, started = 0, 0, time.monotonic()
    try:
        for message in notifications(config):
            due = (message.time_us - origin_us) / 1e6
            while next_probe * probe_every_us <= message.time_us - origin_us:
                await _sleep_until(started, next_probe * probe_every_us / 1e6)
                now = time.time()
                value = orjson.dumps(
                    {
                        "type": "sensor-report",
                        "timestamp": rfc3339(round(now * 1e6)),
                        "src": PROBE_ENGINE,
                        "tap": PROBE_TAP,
                        "data": next_probe,
                    }
                )
                await producer.send(topic, value, key=PROBE_ENGINE.encode())
                sent[next_probe] = round(now * 1e6) / 1e6
                next_probe, count = next_probe + 1, count + 1
            await _sleep_until(started, due)
            await producer.send(topic, message.value, key=message.key)
            count += 1
        await producer.flush()
    finally:
        await producer.stop()
    return count, time.monotonic() - started


async def _sleep_until(started: float, offset: float) -> None:
    delay = started + offset - time.monotonic()
    if delay > 0:
        await asyncio.sleep(delay)


def _poll_probes(database: str, seen: dict[int, float], stop: threading.Event) -> None:
    last_asked = time.time()
    newest = 0
    while not stop.is_set():
        asked = time.time()
        # Probes arrive in order (one engine, one partition); a margin keeps stragglers.
        since = max(0, newest - 2_000_000_000)
        try:
            found = influx.rows(database, f"{PROBE_QUERY} AND time > {since}")
        except InfluxQueryError:
            found = []
        for row in found:
            number = round(float(row["value"]))
            if number not in seen:
                seen[number] = (last_asked + asked) / 2
            newest = max(newest, int(row["time"]))
        last_asked = asked
        stop.wait(POLL)


def _stamped_span(database: str) -> float:
    """Seconds between the first and last point the baseline wrote: its wall clock's span."""
    times: list[int] = []
    for order in ("ASC", "DESC"):
        query = f'SELECT "value" FROM /.*/ ORDER BY time {order} LIMIT 1'
        times.extend(int(row["time"]) for row in influx.rows(database, query))
    return (max(times) - min(times)) / 1e9 if times else 0.0


def stop_pipeline(session: Session, pipeline: Pipeline) -> None:
    session.stop(pipeline.agents, pipeline.archiver)
