"""The monitors worker's Faust wiring: two agents and the `monitor-states` table.

    monitored topics --intake--> {app id}-observations (keyed by monitor)
                          \\--> dead letters (records a monitor cannot read)
    {app id}-observations --evaluate--> archive (`data_profile`, `data_drift`, ... points)

What happens to a batch is the pure stage (monitors/stage.py). Nothing is
acknowledged before what it gave is delivered: the intake's observations and
dead letters, the evaluation's points, are handed to the producer and awaited;
then the evaluation writes the monitors' new states (each on the changelog
partition of the observations' partition it follows), then the batch is
acknowledged. Faust flushes the producer (the changelog included) before it
commits offsets, so a committed offset's states are on the broker. A batch
that fails stops the worker (exit 1): restarted, it takes the batch again, and
the states' applied offsets make the repeat exact.

The table has as many partitions as the observations topic (Faust requires it
of a table written from a topic's events).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

import faust

from enginewatch.core.faust_private import acknowledge, make_current, take_unacked_batches
from enginewatch.core.faustapp import RAW_BYTES, create_faust_app
from enginewatch.core.observe import watch_self
from enginewatch.core.points import Origin
from enginewatch.core.selfmetrics import StageTimes
from enginewatch.core.settings import Settings
from monitors import stage
from monitors.config import Monitors
from monitors.records import readers
from monitors.stage import MonitorsOutput, ObservationInput, RecordInput, References
from monitors.state import MONITOR_STATES_TABLE

logger = logging.getLogger(__name__)

INTAKE, EVALUATE = "intake", "evaluate"
ROLE = "monitors"
# A batch is what arrived within BATCH_SECONDS, at most BATCH_EVENTS messages.
# Windows close in seconds to minutes: a quarter second costs no latency that
# matters, and makes fewer, larger table writes (a monitor's state is one value).
BATCH_EVENTS = 1000
BATCH_SECONDS = 0.25


def observations_topic(app_id: str) -> str:
    """The internal topic between the two stages."""
    return f"{app_id}-{ROLE}-observations"


def create_monitors_app(
    settings: Settings, monitors: Monitors, references: References, partitions: int
) -> faust.App:
    """The monitors worker's app; `partitions` is the observations topic's partition count."""
    app = create_faust_app(settings.kafka, ROLE, topic_partitions=partitions)
    archive_topic = settings.topics.archive_topic
    dead_letter_topic = settings.topics.dead_letter_topic
    internal = observations_topic(settings.kafka.app_id)
    by_topic = readers(monitors)
    inputs = app.topic(*monitors.topics(), **RAW_BYTES)
    observations = app.topic(internal, partitions=partitions, **RAW_BYTES)
    states = app.Table(MONITOR_STATES_TABLE, default=dict, partitions=partitions)

    times = StageTimes(ROLE)
    watch_self(app, settings, times)

    async def give_up(stage_name: str, exc: Exception) -> None:
        times.error(stage_name)
        logger.critical("a batch failed and none of it is acknowledged; stopping: %r", exc)
        await app.crash(exc)

    async def send_all(messages: Sequence[tuple[str, bytes | None, bytes]]) -> None:
        """Hand the messages to the producer; return once the broker acknowledged each."""
        send = app.producer.send
        sent = [await send(topic, key, value, None, None, None) for topic, key, value in messages]
        await asyncio.gather(*sent)

    async def intake(stream: faust.StreamT[bytes]) -> None:
        async for events in take_unacked_batches(stream, BATCH_EVENTS, BATCH_SECONDS):
            started = time.monotonic()
            try:
                output = stage.intake([_record(event) for event in events], by_topic)
                await send_all(
                    [(internal, key, value) for key, value in output.observations]
                    + [(dead_letter_topic, None, value) for value in output.dead_letters]
                )
                if output.dead_letters:
                    logger.info(
                        "records=%d observations=%d dead_letters=%d",
                        output.records,
                        len(output.observations),
                        len(output.dead_letters),
                    )
            except Exception as exc:
                return await give_up(INTAKE, exc)
            await acknowledge(stream, events)
            seconds = time.monotonic() - started
            times.record(INTAKE, len(events), seconds, output.dead_letter_reasons)

    def keep(output: MonitorsOutput, current: dict[int, faust.EventT[bytes]]) -> None:
        for key, (partition, value) in output.states.items():
            make_current(current[partition])
            states[key] = value

    def report(output: MonitorsOutput) -> None:
        c = output.counts
        if c.closed or c.malformed or c.unknown or c.late or c.redelivered or c.given_up:
            logger.info(
                "messages=%d observations=%d closed=%d points=%d redelivered=%d late=%d "
                "malformed=%d unknown=%d given_up=%d",
                c.messages,
                c.observations,
                c.closed,
                len(output.points),
                c.redelivered,
                c.late,
                c.malformed,
                c.unknown,
                c.given_up,
            )

    async def evaluate(stream: faust.StreamT[bytes]) -> None:
        async for events in take_unacked_batches(stream, BATCH_EVENTS, BATCH_SECONDS):
            started = time.monotonic()
            try:
                batch = [_observation(event) for event in events]
                output = stage.evaluate(batch, monitors, states, references)
                await send_all([(archive_topic, key, value) for key, value in output.points])
                keep(output, {event.message.partition: event for event in events})
                report(output)
            except Exception as exc:
                return await give_up(EVALUATE, exc)
            await acknowledge(stream, events)
            times.record(EVALUATE, len(events), time.monotonic() - started)

    app.agent(inputs, name=INTAKE)(intake)
    app.agent(observations, name=EVALUATE)(evaluate)
    return app


def _record(event: faust.EventT[bytes]) -> RecordInput:
    message = event.message
    # Kafka timestamps are milliseconds; Faust hands them over as float seconds.
    timestamp = round(message.timestamp * 1000) * 1_000_000
    return RecordInput(
        Origin(message.topic, message.partition, message.offset), timestamp, event.value
    )


def _observation(event: faust.EventT[bytes]) -> ObservationInput:
    message = event.message
    return ObservationInput(Origin(message.topic, message.partition, message.offset), event.value)
