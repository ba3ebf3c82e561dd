"""The archiver's Faust wiring: one agent that delivers batches, then acknowledges them.

Faust acknowledges an event when the stream moves on to the next one, even if
processing raised, and commits the offsets of acknowledged events. So the
agent takes batches with `noack_take` (no event is acknowledged by the stream)
and acknowledges a batch's events itself, only after `Delivery.deliver`
returned: every point written or dead-lettered (the dead letter acknowledged
by the broker). A crash or SIGKILL before that leaves the batch uncommitted,
and it is consumed again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import faust

from archiver.batch import Record, Reject
from archiver.delivery import BatchReport, Delivery
from archiver.overlap import write_overlapped
from archiver.sink import Sink
from enginewatch.core.bulk import Batch, FetchedRecord
from enginewatch.core.deadletters import dead_letter
from enginewatch.core.faust_private import acknowledge_batch, read_in_bulk, take_bulk_batches
from enginewatch.core.faustapp import RAW_BYTES, create_faust_app
from enginewatch.core.observe import watch_self
from enginewatch.core.points import Origin
from enginewatch.core.selfmetrics import SinkStats, StageTimes
from enginewatch.core.settings import Settings

logger = logging.getLogger(__name__)

AGENT = "archive"
STAGE = "archiver"
# A batch holds at most this many archive messages, which bounds its memory
# (the agents' archive messages hold up to 128 KiB of input each);
# ENGINEWATCH_BATCH_POINTS bounds each write request within it.
BATCH_MESSAGES = 1000


def create_archiver_app(
    settings: Settings, role: str, sink_factory: Callable[[], Sink], sink_name: str = "influxdb"
) -> faust.App:
    """The Faust app of one archiver; `role` names its consumer group, `sink_name` its
    sink in the self-metrics."""
    # A batch in flight at a rebalance need not hold it up: whoever gets the
    # partition consumes the batch again, and writing a point twice is harmless.
    app = create_faust_app(settings.kafka, role, stream_wait_empty=False)
    archive = app.topic(settings.topics.archive_topic, **RAW_BYTES)
    dead_letters = app.topic(settings.topics.dead_letter_topic, **RAW_BYTES)

    async def send_dead_letter(reject: Reject) -> None:
        message = dead_letter(reject.error, reject.origin, reject.value, STAGE)
        # force: never hold the message back until an event is acknowledged.
        sent = await dead_letters.send(key=reject.key, value=message, force=True)
        await sent  # on the broker before the batch is acknowledged

    times, stats = StageTimes(role), SinkStats(role, sink_name)
    watch_self(app, settings, times, stats)

    async def deliver(stream: faust.StreamT[bytes]) -> None:
        sink = sink_factory()
        delivery = Delivery(sink, send_dead_letter, settings.batch.points, stats=stats)

        async def write(batch: Batch) -> tuple[float, BatchReport]:
            started = time.monotonic()
            return started, await delivery.deliver([_record(record) for record in batch])

        async def done(batch: Batch, written: tuple[float, BatchReport]) -> None:
            started, report = written
            await acknowledge_batch(stream, batch)
            times.record(AGENT, len(batch), time.monotonic() - started, report.dead_letter_reasons)

        batches = take_bulk_batches(stream, BATCH_MESSAGES, settings.batch.seconds)
        try:
            # While one batch's last request is written, the next is taken and encoded.
            await write_overlapped(batches, write, done)
        except Exception as exc:
            times.error(AGENT)
            # Outages are waited out inside deliver; what escapes it is
            # unexpected. Restarting the agent would read on past the
            # unacknowledged batch and never commit again: stop instead,
            # and the batch is consumed again from the last commit.
            logger.critical("a batch failed and is not acknowledged; stopping: %r", exc)
            return await app.crash(exc)
        finally:
            await sink.close()

    read_in_bulk(app, archive)
    app.agent(archive, name=AGENT)(deliver)
    return app


def _record(record: FetchedRecord) -> Record:
    origin = Origin(record.topic, record.partition, record.offset)
    return Record(record.key, record.value, origin)
