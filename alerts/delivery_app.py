"""`enginewatch alerts deliver`'s Faust wiring: the alerts topic to each
receiver, and the `alert-deliveries` table.

    alerts --deliver-{receiver}--> Alertmanager, webhooks   (one agent per receiver)
        `-- every ENGINEWATCH_ALERTS_RESEND s: firing alerts re-sent to
            Alertmanager, reminders to webhooks, old records dropped

Each receiver has its own agent on the alerts topic, so each takes the
transitions at its own pace: one that is down does not hold the others back
(until Faust's buffer of its stream, 4 096 messages, is full; then the
partitions wait for it). An agent takes the topic in unacknowledged batches;
what its receiver is told of a batch is the pure plan (alerts/delivery.py);
once the receiver took every notice (retrying as long as it is down), the
records are written to the table (each on the changelog partition of its
alerts partition), then the batch is acknowledged. Faust commits an offset
only once every agent acknowledged the message (its reference count), so
**the input offset is committed only after every receiver took its
notices**. A batch that fails otherwise stops the worker (exit 1). A batch
waiting for a receiver holds up neither a rebalance nor a shutdown
(`stream_wait_empty` off, as the archivers have it): it is taken again from
the committed offset, by whichever worker gets its partition.

The table has as many partitions as the alerts topic (Faust requires it of a
table written from a topic's events); alerts/command.py learns the count.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

import faust

from alerts import delivery
from alerts.app import partition_event
from alerts.delivery import DELIVERIES_TABLE, Plan
from alerts.payloads import REPEAT, Notice
from alerts.receivers import Outcome, Receiver
from enginewatch.core.faust_private import acknowledge, make_current, take_unacked_batches
from enginewatch.core.faustapp import RAW_BYTES, create_faust_app
from enginewatch.core.observe import watch_self
from enginewatch.core.selfmetrics import StageTimes
from enginewatch.core.settings import Settings

logger = logging.getLogger(__name__)

ROLE = "alert-delivery"
# A batch is what arrived within BATCH_SECONDS, at most BATCH_EVENTS transitions.
BATCH_EVENTS = 500
BATCH_SECONDS = 0.25

Records = dict[str, tuple[int, dict[str, object] | None]]


def create_delivery_app(
    settings: Settings, receivers: Sequence[Receiver], partitions: int
) -> faust.App:
    """The delivery worker's app; `partitions` is the alerts topic's partition count."""
    # A batch waiting for a receiver that is down must hold up neither a
    # rebalance nor a shutdown: whoever gets the partition takes the batch
    # again from the committed offset (the records make what was told a repeat).
    app = create_faust_app(
        settings.kafka, ROLE, topic_partitions=partitions, stream_wait_empty=False
    )
    alerts_topic = settings.alerts.alerts_topic
    resend, repeat = settings.alerts.alerts_resend, settings.alerts.alerts_repeat
    topic = app.topic(alerts_topic, partitions=partitions, **RAW_BYTES)
    table = app.Table(DELIVERIES_TABLE, default=dict, partitions=partitions)
    # A receiver's batch and its reminders never interleave: each reads the
    # table, sends, then writes it (a re-send read before a resolve was
    # written would bring the alert back in Alertmanager).
    turns = {receiver.id: asyncio.Lock() for receiver in receivers}
    ids = set(turns)

    def keep(records: Records, current: dict[int, faust.EventT[bytes]]) -> None:
        """Write the records, each to the changelog partition of its alerts partition."""
        for key, (partition, value) in records.items():
            if partition not in current:
                # Held here: Faust keeps only a weak reference to its current event.
                current[partition] = partition_event(app, alerts_topic, partition)
            make_current(current[partition])
            if value is not None:
                table[key] = value
            elif key in table:
                del table[key]

    times = StageTimes("alerts-deliver")
    watch_self(app, settings, times)

    async def give_up(stage: str, exc: Exception) -> None:
        times.error(stage)
        logger.critical("a batch failed and none of it is acknowledged; stopping: %r", exc)
        await app.crash(exc)

    def agent_for(receiver: Receiver) -> None:
        turn = turns[receiver.id]
        name = f"deliver-{receiver.id}"

        async def deliver(stream: faust.StreamT[bytes]) -> None:
            batches = take_unacked_batches(stream, BATCH_EVENTS, BATCH_SECONDS)
            try:
                async for events in batches:
                    started = time.monotonic()
                    try:
                        async with turn:
                            batch = [(event.message.partition, event.value) for event in events]
                            plan = delivery.plan(receiver.id, batch, table, time.time())
                            outcome = await receiver.deliver(plan.notices)
                            current = {event.message.partition: event for event in events}
                            keep(plan.records, current)
                        _report(receiver, plan, outcome)
                    except Exception as exc:
                        return await give_up(name, exc)
                    await acknowledge(stream, events)
                    times.record(name, len(events), time.monotonic() - started)
            finally:
                await receiver.close()

        app.agent(topic, name=name)(deliver)

    for receiver in receivers:
        agent_for(receiver)

    async def remind() -> None:
        """Re-send the firing alerts to Alertmanager, remind the webhooks of the
        alerts firing for ENGINEWATCH_ALERTS_REPEAT, drop records no longer needed."""
        if app.rebalancing or app.in_recovery:
            return
        partitions = {
            tp.partition for tp in app.assignor.assigned_actives() if tp.topic == alerts_topic
        }
        if not partitions:
            return
        try:
            for receiver in receivers:
                turn = turns[receiver.id]
                if turn.locked():
                    continue  # a batch is on its way (or waits for the receiver): next round
                async with turn:
                    await remind_one(receiver, partitions)
            # Records of receivers no longer configured: no agent writes them.
            others = [(k, v) for k, v in table.items() if k.partition("/")[0] not in ids]
            keep(dropped(others, partitions), {})
        except Exception as exc:
            await give_up("remind", exc)

    async def remind_one(receiver: Receiver, partitions: set[int]) -> None:
        prefix = f"{receiver.id}/"
        mine = [(k, v) for k, v in table.items() if k.startswith(prefix)]
        wall = time.time()
        if receiver.kind == "alertmanager":
            firing = delivery.firing(receiver.id, mine, partitions)
            if firing:
                await receiver.remind([Notice(r.transition, REPEAT) for r in firing])
        else:
            notices, records = delivery.reminders(receiver.id, mine, partitions, wall, repeat)
            if notices and await receiver.remind(notices):
                logger.info("%s: reminded of %d firing alert(s)", receiver.name, len(notices))
                keep(records, {})
        keep(dropped(mine, partitions, {receiver.id}, wall), {})

    def dropped(
        items: list[tuple[str, object]],
        partitions: set[int],
        configured: set[str] | None = None,
        wall: float | None = None,
    ) -> Records:
        """Deletions of the records `delivery.expired` finds among `items`, where
        `configured` are the receivers whose records are kept while needed."""
        expired = delivery.expired(items, configured or set(), partitions, wall or time.time())
        return {key: (partition, None) for key, partition in expired.items()}

    app.timer(resend, name="reminders")(remind)

    return app


def _report(receiver: Receiver, plan: Plan, outcome: Outcome) -> None:
    c = plan.counts
    if plan.notices or c.repeated or c.malformed or outcome.refused:
        logger.info(
            "receiver=%s transitions=%d notices=%d repeated=%d malformed=%d taken=%d "
            "refused=%d failed_attempts=%d",
            receiver.id,
            c.transitions,
            c.notices,
            c.repeated,
            c.malformed,
            outcome.taken,
            outcome.refused,
            outcome.failed_attempts,
        )
