"""Throughput runs on the same broker: the ceilings, the agents, and their scaling.

Each function runs one worker set over its own fresh input topic holding the
same recording, and returns the steady rate read from outside.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path

from benchmarks import kafkaio
from benchmarks.measure import Throughput, feed_and_measure, start_and_settle
from benchmarks.rates import Sample
from benchmarks.session import Session, enginewatch, module
from benchmarks.workload import Expected, Recording


def raw_consume(session: Session, recording: Recording) -> float:
    """aiokafka's consumer and orjson.loads, in this process: the floor any consumer pays."""
    topic = session.topic("raw")
    asyncio.run(kafkaio.produce(topic, recording.values, recording.keys))
    return asyncio.run(kafkaio.raw_consume_rate(topic, len(recording), session.scale.timeout))


def faust_noop(session: Session, recording: Recording, mode: str) -> Throughput:
    """A Faust agent that drops each event (`consume`) or sends it on unchanged (`forward`)."""
    app_id, topic, output = session.name("app"), session.topic("noop-in"), session.topic("noop-out")
    env = session.env(app_id, input_topic=topic, archive_topic=output)
    argv = module("benchmarks.noop_app", mode, "-l", "info")
    workers = start_and_settle(session, f"faust no-op {mode}", [argv], env, topic)
    timeout, total = session.scale.timeout, len(recording)

    def committed() -> list[Sample]:
        group = f"{app_id}-noop-{mode}"
        return asyncio.run(kafkaio.committed_progress(group, topic, total, timeout))

    def forwarded() -> list[Sample]:
        return asyncio.run(kafkaio.collect_output(output, total, kafkaio.one, timeout))

    try:
        return feed_and_measure(
            workers, topic, recording, total, committed if mode == "consume" else forwarded
        )
    finally:
        session.stop(*workers)


@dataclass(frozen=True)
class AgentsRun:
    throughput: Throughput  # reports (input messages) per second, CPU per report
    archive_topic: str  # holds exactly what the agents made of the recording
    app_id: str


def agents(
    session: Session,
    recording: Recording,
    expected: Expected,
    engine_map: Path,
    *,
    keyed: bool,
    workers: int = 1,
    before_change: bool = False,
) -> AgentsRun:
    """`enginewatch agents` over the recording, read from the archive topic."""
    app_id, topic, archive = session.name("app"), session.topic("notify"), session.topic("archive")
    env = session.env(
        app_id,
        input_topic=topic,
        archive_topic=archive,
        dead_letter_topic=session.topic("dead", partitions=1),
        engine_map=str(engine_map),
        input_keyed_by_engine="true" if keyed else "false",
    )
    if before_change:
        argv, label = module("benchmarks.before_app", "-l", "info"), "agents, previous wiring"
    else:
        argv, label = (
            enginewatch("agents", "-l", "info"),
            "agents" + (" (keyed input)" if keyed else ""),
        )
    started = start_and_settle(session, label, [argv] * workers, env, topic)
    points = len(expected.points)

    def archived() -> list[Sample]:
        return asyncio.run(
            kafkaio.collect_output(archive, points, kafkaio.archive_points, session.scale.timeout)
        )

    try:
        measured = feed_and_measure(started, topic, recording, points, archived)
    finally:
        session.stop(*started)
    # Points -> reports: the rate of the input, whatever each report yields.
    per_report = points / len(recording)
    throughput = Throughput(measured.rate / per_report, measured.cpu_us * per_report)
    return AgentsRun(throughput, archive, app_id)


def write_engine_map(session: Session, models: dict[str, str]) -> Path:
    path = session.workdir / "engines.json"
    path.write_text(json.dumps(models), encoding="utf-8")
    return path
