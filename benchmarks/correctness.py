"""The correctness table: one input, invalid lines among it, through enginewatch and Telegraf.

The pipeline figure's recording (every message type) with the invalid lines
of benchmarks/invalid.py put in goes through enginewatch's agents and
archiver as deployed by default, through Telegraf with the tuned
configuration (benchmarks/telegraf.conf) and through Telegraf with a generic
one (benchmarks/telegraf-generic.conf), each into a database of its own.
Every column is measured the same way, from outside: InfluxDB's write
statistics, the points read back, the dead-letter topic, Telegraf's log.
enginewatch's points are also checked against the exact expectation of the
agents' pure pipeline (benchmarks/workload.py).

Run once per benchmark, not per run: nothing here is timed.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from agents.pipeline import Rejected, handle
from benchmarks import influxio, invalid, kafkaio, outcomes, pipeline, readback, telegraf
from benchmarks.outcomes import ListReport
from benchmarks.session import Session
from benchmarks.telegraflog import read_log
from benchmarks.workload import Recording, expected
from enginewatch.harness import kafka

Column = dict[str, int | None]


def correctness(session: Session, mixed: Recording, engine_map: Path) -> dict[str, Any]:
    recording = invalid.with_invalid_lines(mixed, session.scale.invalid_lines)
    lists = outcomes.sensor_lists(recording.values)
    return {
        "input": {
            "messages": len(recording),
            "invalid_lines": session.scale.invalid_lines,
            "invalid_kinds": invalid.kinds_of(session.scale.invalid_lines),
            "sensor_lists": len(lists),
        },
        "columns": {
            "enginewatch": _enginewatch(session, recording, engine_map, lists),
            "telegraf": _telegraf(session, recording, telegraf.CONFIG, "telegraf tuned", lists),
            "telegraf_generic": _telegraf(
                session, recording, telegraf.GENERIC_CONFIG, "telegraf generic", lists
            ),
        },
    }


def _enginewatch(
    session: Session, recording: Recording, engine_map: Path, lists: list[ListReport]
) -> Column:
    points = expected(recording.values, recording.models)
    rejected = _rejected(recording)
    running = pipeline.start_pipeline(session, engine_map)
    dead_letters = running.agents.env["ENGINEWATCH_DEAD_LETTER_TOPIC"]
    try:
        asyncio.run(kafkaio.produce(running.input_topic, recording.values, recording.keys))
        influxio.wait_for_points(running.database, len(points.points), session.scale.timeout)
        dead = _wait_for_size(dead_letters, rejected, session.scale.timeout)
        influxio.check_field_values(running.database, points.field_values)
    finally:
        pipeline.stop_pipeline(session, running)
    stats = readback.write_stats(running.database)
    if stats.written != len(points.points):
        raise RuntimeError(
            f"enginewatch wrote {stats.written} points, expected {len(points.points)}"
        )
    rows = readback.stored_points(running.database)
    return {
        **_stored(len(points.points), stats, rows, lists, outcomes.ENGINEWATCH),
        "dead_letters": dead,
        "messages_dropped": 0,  # a message it cannot use is a dead letter
        # Not applicable: nothing is converted (a field of the wrong type makes the
        # message invalid), and no field changes type (the metric contract).
        "conversion_errors": None,
        "writes_refused_whole": None,
        "writes_refused_in_part": None,
    }


def _telegraf(
    session: Session, recording: Recording, config: Path, label: str, lists: list[ListReport]
) -> Column:
    run = telegraf.drain(session, recording, config, label)
    said = read_log(run.log)
    stats = readback.write_stats(run.database)
    rows = readback.stored_points(run.database)
    return {
        **_stored(said.metrics_sent, stats, rows, lists, outcomes.TELEGRAF),
        "dead_letters": 0,  # it has none: a message it cannot use is logged and dropped
        "messages_dropped": said.dropped_messages,
        "conversion_errors": said.conversion_errors,
        "writes_refused_whole": said.refused_writes,
        "writes_refused_in_part": said.partial_writes,
    }


def _stored(
    sent: int,
    stats: readback.WriteStats,
    rows: list[outcomes.Row],
    lists: list[ListReport],
    layout: outcomes.Layout,
) -> Column:
    """What of the points a pipeline sent InfluxDB took, and what they hold."""
    found = outcomes.list_outcomes(lists, rows, layout)
    return {
        "points_sent": sent,
        "points_written": stats.written,
        "points_lost": sent - stats.written,  # refused by InfluxDB: a field's type changed
        "points_stored": len(rows),  # fewer: a later point of the same series and time won
        "rate_points": outcomes.rate_points(rows),
        "model_points": outcomes.model_points(rows),
        "lists_amount": found.amount,
        "lists_last_element": found.last_element,
        "lists_other": found.other,
        "invalid_stored": outcomes.invalid_points(rows, layout.engine_tag),
    }


def _rejected(recording: Recording) -> int:
    """How many of the messages the agents' pure pipeline turns into dead letters."""
    carry: dict[str, dict[str, float]] = {}

    def model_of(src: str) -> str:
        return recording.models.get(src, "unknown")

    return sum(1 for v in recording.values if isinstance(handle(v, model_of, carry), Rejected))


def _wait_for_size(topic: str, count: int, timeout: float) -> int:
    """The topic's size once it holds `count` messages, or when time is up."""
    deadline = time.monotonic() + timeout
    size = kafka.size(topic)
    while size < count and time.monotonic() < deadline:
        time.sleep(0.5)
        size = kafka.size(topic)
    return size
