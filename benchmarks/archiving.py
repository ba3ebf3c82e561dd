"""The archiver against InfluxDB's own pace, and its encoder against influxdb-client's."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from influxdb_client.client.write.point import Point as ClientPoint
from influxdb_client.domain.write_precision import WritePrecision

from agents.app import BATCH_EVENTS, BATCH_SECONDS
from agents.grouping import EngineGroups
from agents.stages import (
    ARCHIVE_GROUP_INPUTS,
    BY_ENGINE_GROUP_INPUTS,
    GROUP_INPUT_BYTES,
    archive_message,
)
from archiver.lineprotocol import encode_point
from archiver.transcode import Transcoder
from benchmarks import influxio, kafkaio
from benchmarks.cpu import CpuSampler
from benchmarks.measure import Throughput
from benchmarks.rates import Sample, steady_window
from benchmarks.session import Session, enginewatch
from enginewatch.core.points import Origin, Point, decode_archive, encode_archive
from enginewatch.harness import influx

INPUT_BYTES = 250  # a sensor report's size, about: what a group's size limit counts
# The inputs one `derive` batch holds, which decides how the agents group
# their points into archive messages. Draining a backlog in the default
# topology: a full batch of full by-engine messages. Keeping up with a live
# fleet at 2 000 reports/s: what arrives within a batch's wait.
DRAINING_BATCH_INPUTS = BATCH_EVENTS * BY_ENGINE_GROUP_INPUTS
LIVE_BATCH_INPUTS = round(2000 * BATCH_SECONDS)


@dataclass(frozen=True)
class Backlog:
    """An archive topic holding `points`, grouped into messages as the agents group them."""

    topic: str
    points: list[Point]
    field_values: int
    messages: int


def backlog(session: Session, points: Sequence[Point], copies: int, batch_inputs: int) -> Backlog:
    """The agents' points `copies` times over, each copy later in time than the last,
    in archive messages as `derive` writes them from batches of `batch_inputs` inputs.

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
    for start in range(0, len(repeated), batch_inputs):
        # One `derive` batch: one input message per point here, in order.
        groups: EngineGroups[list[Point]] = EngineGroups(ARCHIVE_GROUP_INPUTS, GROUP_INPUT_BYTES)
        for offset, point in enumerate(repeated[start : start + batch_inputs], start):
            groups.add(point.tags["engine"], Origin("notify", 0, offset), [point], INPUT_BYTES)
        messages.extend(groups.messages(archive_message))
    topic = session.topic("archive")
    asyncio.run(kafkaio.produce(topic, [m[1] for m in messages], [m[0] for m in messages]))
    return Backlog(topic, repeated, sum(len(p.fields) for p in repeated), len(messages))


def archiver(session: Session, archived: Backlog, **settings: str) -> Throughput:
    """`enginewatch archiver` draining an archive topic into a fresh database.

    Points per second, read from InfluxDB: a point counts once it can be queried.
    `settings` are further ENGINEWATCH_* settings (lower case, without the prefix).
    """
    database = session.database("archiver")
    env = session.env(
        session.name("app"),
        archive_topic=archived.topic,
        dead_letter_topic=session.topic("dead", partitions=1),
        influx_bucket=database,
        **settings,
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
    influx.create_database(database)
    return influxio.bulk_write(database, lines, gzip_level)


def encoders(points: Sequence[Point]) -> tuple[float, float]:
    """Points per second of the archiver's encoder and of influxdb-client's Point, same points."""
    ours = _points_per_second(points, encode_point)
    theirs = _points_per_second(points, _client_line)
    return ours, theirs


def transcoders(points: Sequence[Point]) -> tuple[float, float]:
    """Points per second from archive messages to lines: the archiver's fast path
    (archiver/transcode.py) and the reference path it falls back on."""
    messages = [
        encode_archive(points[start : start + ARCHIVE_GROUP_INPUTS])
        for start in range(0, len(points), ARCHIVE_GROUP_INPUTS)
    ]

    def fast() -> None:
        transcoder = Transcoder()  # its caches fill on the first messages
        for message in messages:
            transcoder.lines(message)

    def reference() -> None:
        for message in messages:
            for point in decode_archive(message):
                encode_point(point)

    return _best_rate(len(points), fast), _best_rate(len(points), reference)


def _client_line(point: Point) -> str:
    # influxdb-client is untyped: build through Any.
    built: Any = cast(Any, ClientPoint)(point.measurement)
    for key, value in point.tags.items():
        built.tag(key, value)
    for key, field in point.fields.items():
        built.field(key, field)
    return str(built.time(point.time, WritePrecision.NS).to_line_protocol())


def _points_per_second(points: Sequence[Point], encode: Callable[[Point], str]) -> float:
    def encode_all() -> None:
        for point in points:
            encode(point)

    return _best_rate(len(points), encode_all)


def _best_rate(units: int, work: Callable[[], None]) -> float:
    best = 0.0
    for _ in range(3):  # best of three: the least disturbed by neighbours
        started = time.perf_counter()
        work()
        best = max(best, units / (time.perf_counter() - started))
    return best
