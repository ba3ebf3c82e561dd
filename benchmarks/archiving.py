"""The archiver against InfluxDB's own pace, and its encoder against influxdb-client's."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from influxdb_client.client.write.point import Point as ClientPoint
from influxdb_client.domain.write_precision import WritePrecision

from agents.app import (
    BATCH_EVENTS,
    GROUP_INPUT_BYTES,
    GROUP_INPUTS,
    EngineGroups,
    archive_message,
)
from archiver.lineprotocol import encode_point
from benchmarks import influxio, kafkaio
from benchmarks.cpu import CpuSampler
from benchmarks.measure import Throughput
from benchmarks.rates import Sample, steady_window
from benchmarks.session import Session, enginewatch
from enginewatch.points import Origin, Point

INPUT_BYTES = 250  # a sensor report's size, about: what a group's size limit counts


@dataclass(frozen=True)
class Backlog:
    """An archive topic holding `points`, grouped into messages as the agents group them."""

    topic: str
    points: list[Point]
    field_values: int


def backlog(session: Session, points: Sequence[Point], copies: int) -> Backlog:
    """The agents' points `copies` times over, each copy later in time than the last.

    The archiver drains a whole run of the agents in a fraction of a second;
    copies make its run long enough to measure, with points that are all distinct.
    """
    span = max(p.time for p in points) - min(p.time for p in points) + 1_000_000_000
    repeated = [
        Point(p.measurement, p.tags, p.fields, p.time + copy * span)
        for copy in range(copies)
        for p in points
    ]
    messages = []
    for start in range(0, len(repeated), BATCH_EVENTS):
        # One agents batch: one input message per point here, in order.
        groups: EngineGroups[list[Point]] = EngineGroups(GROUP_INPUTS, GROUP_INPUT_BYTES)
        for offset, point in enumerate(repeated[start : start + BATCH_EVENTS], start):
            groups.add(point.tags["engine"], Origin("notify", 0, offset), [point], INPUT_BYTES)
        messages.extend(groups.messages(archive_message))
    topic = session.topic("archive")
    asyncio.run(kafkaio.produce(topic, [m[1] for m in messages], [m[0] for m in messages]))
    return Backlog(topic, repeated, sum(len(p.fields) for p in repeated))


def archiver(session: Session, archived: Backlog) -> Throughput:
    """`enginewatch archiver` draining an archive topic into a fresh database.

    Points per second, read from InfluxDB: a point counts once it can be queried.
    """
    database = session.database("archiver")
    env = session.env(
        session.name("app"),
        archive_topic=archived.topic,
        dead_letter_topic=session.topic("dead", partitions=1),
        influx_bucket=database,
    )
    total = len(archived.points)
    started = time.time()
    worker = session.start("archiver", enginewatch("archiver", "-l", "info"), env)
    try:
        with CpuSampler([worker.pid]) as cpu:
            samples = [
                Sample(started, 0),
                *influxio.wait_for_points(database, total, session.scale.timeout),
            ]
        window = steady_window(samples, total)
        cpu_seconds = cpu.seconds_between(window.start, window.end)
    finally:
        session.stop(worker)
    influxio.check_field_values(database, archived.field_values)
    return Throughput(window.rate, cpu_seconds / window.units * 1e6)


def bulk_post(session: Session, points: Sequence[Point], gzip_level: int | None = None) -> float:
    """The same points as line protocol, POSTed in 5 000-line requests: InfluxDB's own pace.

    Plain by default; with `gzip_level`, compressed beforehand as the archiver does
    its requests, which shows what decompressing costs InfluxDB.
    """
    lines = [encode_point(point) for point in points]
    database = session.database("bulk")
    influxio.create_database(database)
    return influxio.bulk_write(database, lines, gzip_level)


def encoders(points: Sequence[Point]) -> tuple[float, float]:
    """Points per second of the archiver's encoder and of influxdb-client's Point, same points."""
    ours = _points_per_second(points, encode_point)
    theirs = _points_per_second(points, _client_line)
    return ours, theirs


def _client_line(point: Point) -> str:
    # influxdb-client is untyped: build through Any.
    built: Any = cast(Any, ClientPoint)(point.measurement)
    for key, value in point.tags.items():
        built.tag(key, value)
    for key, field in point.fields.items():
        built.field(key, field)
    return str(built.time(point.time, WritePrecision.NS).to_line_protocol())


def _points_per_second(points: Sequence[Point], encode: Callable[[Point], str]) -> float:
    best = 0.0
    for _ in range(3):  # best of three: the least disturbed by neighbours
        started = time.perf_counter()
        for point in points:
            encode(point)
        best = max(best, len(points) / (time.perf_counter() - started))
    return best
