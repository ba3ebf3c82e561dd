"""The monitors worker's throughput: a 10-field profile, and a prediction-truth join.

One `enginewatch monitors` worker over its own fresh topics (one partition
each, records in time order), fed once it holds them (`start_and_settle`);
the rate is read from outside, from the archive topic: each window's points
say how many records it took in (a profile's `records`; the join's matched
pairs, unmatched predictions, orphan and late truths), against the records'
CreateTime. A last record per topic, far later and sent once the worker took
all the others, closes every window before it, so the run is complete when
exactly every record of the workload is counted.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import orjson
from aiokafka import AIOKafkaProducer

from benchmarks import kafkaio
from benchmarks.cpu import CpuSampler
from benchmarks.measure import Throughput, start_and_settle
from benchmarks.rates import Sample, steady_window
from benchmarks.session import Session, enginewatch
from enginewatch.harness import kafka
from monitors.app import observations_topic

FIELDS = 10
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z: the records' own time
STEP = 0.001  # seconds of event time between two records: 1 000 to a 1 s window
TRUTH_AFTER = 0.1  # seconds from a prediction to its truth
CLOSING_AFTER = 120.0  # the closing record's time after the last one

PROFILE_MONITORS = """
monitors:
  - name: bench-profile
    model: bench
    window: 1s
    time: ts
    streams:
      - topic: {topic}
        name: input
        fields: {{{fields}}}
"""
JOIN_MONITORS = """
monitors:
  - name: bench-join
    model: bench
    window: 1s
    time: ts
    quality:
      prediction: {{topic: {predictions}, field: yhat, id: id}}
      truth: {{topic: {truths}, field: y, id: id}}
      label_delay: 10s
      threshold: 1
"""


@dataclass(frozen=True)
class Workload:
    """Records by topic role, and how many the windows must count."""

    records: dict[str, list[bytes]]
    counted: int


def profile_workload(count: int, seed: int = 7) -> Workload:
    """`count` records of FIELDS numbers each, then one that closes their windows."""
    rng = random.Random(seed)
    names = [f"f{i}" for i in range(FIELDS)]
    values = [
        orjson.dumps({"ts": T0 + i * STEP, **{n: rng.gauss(i % 50, 3.0) for n in names}})
        for i in range(count)
    ]
    closing = {"ts": T0 + count * STEP + CLOSING_AFTER, **dict.fromkeys(names, 0.0)}
    return Workload({"input": [*values, orjson.dumps(closing)]}, count)


def join_workload(pairs: int, seed: int = 7) -> Workload:
    """`pairs` predictions and their truths, then a pair that closes their windows."""
    rng = random.Random(seed)
    predictions, truths = [], []
    for i in range(pairs + 1):
        at = T0 + i * STEP + (CLOSING_AFTER if i == pairs else 0.0)
        guess = rng.gauss(10.0, 2.0)
        predictions.append(orjson.dumps({"id": i, "ts": at, "yhat": guess}))
        truths.append(orjson.dumps({"id": i, "ts": at + TRUTH_AFTER, "y": guess + rng.gauss(0, 1)}))
    return Workload({"predictions": predictions, "truths": truths}, 2 * pairs)


def profiled_records(value: bytes | None) -> int:
    """Records an archive message's windows took in: `records` of each stream's point."""
    points = orjson.loads(value or b"{}").get("points", ())
    return sum(
        int(p["fields"].get("records", 0))
        for p in points
        if p["measurement"] == "data_profile" and p["tags"].get("field") == "*"
    )


JOIN_COUNTS = ("matched", "matched", "unmatched", "orphan_truths", "late")


def joined_records(value: bytes | None) -> int:
    """Records an archive message's join windows accounted for: both sides of each
    matched pair, each prediction or truth left alone, each late record."""
    points = orjson.loads(value or b"{}").get("points", ())
    return sum(
        int(p["fields"].get(name, 0))
        for p in points
        if p["measurement"] == "model_quality"
        for name in JOIN_COUNTS
    )


PENDING = 10_000  # sends in flight before their acknowledgements are awaited


async def produce_side_by_side(streams: list[tuple[str, list[bytes]]]) -> None:
    """The i-th record of every topic, then the (i+1)-th: the sides of a join
    reach the broker together, as a live model's outputs and truths do, and
    the worker's consumer (round-robin over its partitions) reads them so."""
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka.LOCAL_BOOTSTRAP, linger_ms=20, max_batch_size=256 * 1024, acks=1
    )
    await producer.start()
    try:
        pending = []
        for row in itertools.zip_longest(*(values for _, values in streams)):
            for (topic, _), value in zip(streams, row, strict=True):
                if value is not None:
                    pending.append(await producer.send(topic, value))
            if len(pending) >= PENDING:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


def monitors_throughput(session: Session, count: int) -> Throughput:
    """Records per second of one monitors worker profiling FIELDS numeric fields."""
    topic = session.topic("monitored", partitions=1)
    fields = ", ".join(f"f{i}: numeric" for i in range(FIELDS))
    text = PROFILE_MONITORS.format(topic=topic, fields=fields)
    return _run(session, "monitors, profile", text, {"input": topic}, profile_workload(count),
                profiled_records)  # fmt: skip


def join_throughput(session: Session, pairs: int) -> Throughput:
    """Records (predictions and truths) per second of one monitors worker joining them."""
    topics = {
        "predictions": session.topic("predictions", partitions=1),
        "truths": session.topic("truths", partitions=1),
    }
    text = JOIN_MONITORS.format(**topics)
    return _run(session, "monitors, join", text, topics, join_workload(pairs), joined_records)


def taken_all(app_id: str, workload: Workload, timeout: float) -> None:
    """Wait until the worker's intake turned every record but each topic's last into
    an observation (its internal topic; read, not its commits, which lag by seconds)."""
    wanted = sum(len(values) - 1 for values in workload.records.values())
    topic = observations_topic(app_id)
    deadline = time.monotonic() + timeout
    while True:
        found = kafka.read_all(topic) if kafka.partitions(topic) else []
        # Each observation names its record (topic, partition, offset): a
        # redelivered one counts once.
        seen = {tuple(o["o"]) for r in found for o in orjson.loads(r.value or b"[]")}
        if len(seen) >= wanted:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{app_id}: {len(seen)} of {wanted} records observed in time")
        time.sleep(0.05)


def _run(
    session: Session,
    label: str,
    monitors: str,
    topics: dict[str, str],
    workload: Workload,
    weight: Callable[[bytes | None], int],
) -> Throughput:
    app_id, archive = session.name("app"), session.topic("archive")
    path = session.workdir / f"{app_id}.yaml"
    path.write_text(monitors, encoding="utf-8")
    env = session.env(
        app_id,
        archive_topic=archive,
        dead_letter_topic=session.topic("dead", partitions=1),
        monitors=str(path),
        partitions="1",
    )
    first = next(iter(topics.values()))
    workers = start_and_settle(session, label, [enginewatch("monitors", "-l", "info")], env, first)
    timeout = session.scale.timeout

    def feed(last: bool) -> None:
        """Every record but each topic's last, or only those last ones."""
        chosen = [
            (topics[role], values[-1:] if last else values[:-1])
            for role, values in workload.records.items()
        ]
        asyncio.run(produce_side_by_side(chosen))

    try:
        with CpuSampler([w.pid for w in workers]) as cpu:
            feeding = time.time()
            feed(last=False)
            produced = time.time()
            # The last records, far later, close every window: sent before the
            # worker took all the others, one topic's would move event time past
            # the windows the other topic's records still belong to (they would
            # be late and counted in no window that closes).
            taken_all(app_id, workload, timeout)
            feed(last=True)
            samples = [
                Sample(feeding, 0),
                *asyncio.run(kafkaio.collect_output(archive, workload.counted, weight, timeout)),
            ]
    finally:
        session.stop(*workers)
    if samples[-1].done != workload.counted:
        raise RuntimeError(
            f"{label}: {samples[-1].done:g} records counted, {workload.counted} sent"
        )
    window = steady_window(samples, workload.counted, not_before=produced)
    finished = samples[-1].time
    return Throughput(window.rate, cpu.seconds_between(feeding, finished) / workload.counted * 1e6)
