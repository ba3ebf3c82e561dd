"""The alerts worker's Faust wiring: the archive topic, the `alert-states` table
and the stage.

    archive --evaluate--> alerts (transitions, keyed by fingerprint)
        \\                archive (`alerts` points, keyed by engine)
         `-- idle partitions, each second: the wall clock's part of the clock

What happens to a batch is the pure stage (alerts/stage.py). Nothing is
acknowledged before it is delivered: a batch's transitions and points are
handed to the producer and awaited, then the new states are written to the
table (each on the changelog partition of the archive partition it follows),
then the batch is acknowledged. Faust flushes the producer (the changelog
included) before it commits offsets, so a committed offset's states are on
the broker. A batch that fails stops the worker (exit 1): restarted, it takes
the batch again, and the states' applied offsets make the repeat exact.

The table has as many partitions as the archive topic (Faust requires it of
a table written from a topic's events); alerts/command.py learns the count.
"""

from __future__ import annotations

import asyncio
import logging
import time

import faust
from faust.types import Message as FaustMessage

from alerts import stage
from alerts.rules import Rules
from alerts.stage import AlertsOutput, ArchiveInput
from alerts.state import ALERT_STATES_TABLE
from enginewatch.core.faust_private import acknowledge, make_current, take_unacked_batches
from enginewatch.core.faustapp import RAW_BYTES, create_faust_app
from enginewatch.core.observe import watch_self
from enginewatch.core.points import Origin
from enginewatch.core.selfmetrics import StageTimes
from enginewatch.core.settings import Settings

logger = logging.getLogger(__name__)

AGENT = "evaluate"
# A batch is what arrived within BATCH_SECONDS, at most BATCH_EVENTS archive
# messages. Alerts are judged in seconds to minutes: a longer wait than the
# agents' makes fewer, larger batches, and fewer table writes per series.
BATCH_EVENTS = 1000
BATCH_SECONDS = 0.25
# How often the idle partitions are looked at (their clocks follow the wall clock).
TICK_SECONDS = 1.0


def create_alerts_app(settings: Settings, rules: Rules, partitions: int) -> faust.App:
    """The alerts worker's app; `partitions` is the archive topic's partition count."""
    app = create_faust_app(settings.kafka, "alerts", topic_partitions=partitions)
    archive_topic = settings.topics.archive_topic
    alerts_topic = settings.alerts.alerts_topic
    idle = settings.alerts.alerts_idle
    archive = app.topic(archive_topic, partitions=partitions, **RAW_BYTES)
    states = app.Table(ALERT_STATES_TABLE, default=dict, partitions=partitions)
    # A batch and a tick never interleave: each reads the table, sends, then writes it.
    turn = asyncio.Lock()

    async def deliver(output: AlertsOutput) -> None:
        """Hand the transitions and points to the producer; return once the
        broker acknowledged every one of them."""
        send = app.producer.send
        sent = [await send(alerts_topic, k, v, None, None, None) for k, v in output.transitions]
        sent += [await send(archive_topic, k, v, None, None, None) for k, v in output.points]
        await asyncio.gather(*sent)

    def keep(output: AlertsOutput, current: dict[int, faust.EventT[bytes]]) -> None:
        """Write the new states, each to the changelog partition of its archive partition."""
        for key, (partition, value) in output.states.items():
            if partition not in current:
                # Held here: Faust keeps only a weak reference to its current event.
                current[partition] = partition_event(app, archive_topic, partition)
            make_current(current[partition])
            if value is not None:
                states[key] = value
            elif key in states:
                del states[key]

    def report(output: AlertsOutput) -> None:
        c = output.counts
        if output.transitions or c.malformed or c.overflow or c.late or c.redelivered:
            logger.info(
                "messages=%d points=%d transitions=%d redelivered=%d late=%d malformed=%d "
                "overflow=%d",
                c.messages,
                c.points,
                len(output.transitions),
                c.redelivered,
                c.late,
                c.malformed,
                c.overflow,
            )

    times = StageTimes("alerts")
    watch_self(app, settings, times)

    async def give_up(exc: Exception) -> None:
        times.error(AGENT)
        logger.critical("a batch failed and none of it is acknowledged; stopping: %r", exc)
        await app.crash(exc)

    async def evaluate(stream: faust.StreamT[bytes]) -> None:
        async for events in take_unacked_batches(stream, BATCH_EVENTS, BATCH_SECONDS):
            started = time.monotonic()
            try:
                async with turn:
                    batch = [_input(event) for event in events]
                    output = stage.evaluate(batch, rules, states, time.time())
                    await deliver(output)
                    keep(output, {event.message.partition: event for event in events})
                report(output)
            except Exception as exc:
                return await give_up(exc)
            await acknowledge(stream, events)
            times.record(AGENT, len(events), time.monotonic() - started)

    app.agent(archive, name=AGENT)(evaluate)

    async def idle_partitions() -> None:
        """The archive partitions without a message for ENGINEWATCH_ALERTS_IDLE:
        their clocks follow the wall clock (alerts/README.md, the clock)."""
        if app.rebalancing or app.in_recovery:
            return
        assigned = sorted(
            tp.partition for tp in app.assignor.assigned_actives() if tp.topic == archive_topic
        )
        if not assigned:
            return
        try:
            async with turn:
                output = stage.tick(archive_topic, assigned, rules, states, time.time(), idle)
                if output.transitions or output.states:
                    await deliver(output)
                    keep(output, {})
            report(output)
        except Exception as exc:
            await give_up(exc)

    app.timer(TICK_SECONDS, name="idle-partitions")(idle_partitions)
    return app


def _input(event: faust.EventT[bytes]) -> ArchiveInput:
    message = event.message
    return ArchiveInput(Origin(message.topic, message.partition, message.offset), event.value)


def partition_event(app: faust.App, topic: str, partition: int) -> faust.EventT[bytes]:
    """An event of `partition` that no message brought: what a table write made
    outside of a batch (an idle partition's tick) needs to find its changelog
    partition. It carries nothing and is never acknowledged."""
    message = FaustMessage(
        topic=topic,
        partition=partition,
        offset=-1,
        timestamp=time.time(),
        timestamp_type=0,
        headers=[],
        key=None,
        value=None,
        checksum=None,
    )
    return faust.Event(app, None, None, {}, message)
