"""`enginewatch simulate`: publish the notifications of a simulated fleet of engines.

The messages come from `enginewatch.tools.fleet` (pure, deterministic per
seed), keyed by their engine (`src`), and are sent in simulated-clock time:
by default the clock starts now and runs at wall-clock speed, so dashboards
show a living fleet; `--fast` sends as fast as the broker takes them.
`--map-out` writes the matching engine map (`{uuid: model name}`) for the agents.
`--incidents` gives the fleet an engine that falls into error and one that runs
hot, on a schedule (enginewatch.tools.fleet `incident_plan`), for alerts to fire.
`--model-streams PREFIX` also publishes one model's own streams, its inputs
(shifting halfway), predictions and truths (enginewatch.tools.model_streams),
on PREFIX-inputs, PREFIX-predictions and PREFIX-truths, for monitors to watch.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson
from aiokafka.errors import KafkaError

from enginewatch.core.kafka import (
    Sender,
    ToolError,
    bootstrap_servers,
    check_connection,
    describe,
    ensure_topic,
)
from enginewatch.core.kafkasecurity import KafkaSecurity
from enginewatch.core.settings import load_settings
from enginewatch.tools.arguments import positive_float, positive_int
from enginewatch.tools.fleet import (
    FleetConfig,
    Notification,
    build_fleet,
    engine_map,
    notifications,
)
from enginewatch.tools.model_streams import ROLES, ModelStreamsConfig, StreamRecord, model_streams
from enginewatch.tools.pacing import Pacer
from enginewatch.tools.progress import Progress
from enginewatch.tools.recording import NEWLINE
from enginewatch.tools.signals import stop_event


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--engines", type=positive_int, default=5, metavar="N", help="engines (default 5)"
    )
    parser.add_argument(
        "--rate",
        type=positive_float,
        default=100.0,
        metavar="R",
        help="notifications per second, whole fleet, about (default 100)",
    )
    parser.add_argument(
        "--duration",
        type=positive_float,
        metavar="S",
        help="simulated seconds to run (default: until interrupted)",
    )
    parser.add_argument(
        "--map-out", type=Path, metavar="FILE", help="write the engine map (JSON) here"
    )
    parser.add_argument(
        "--topic", help="topic to publish on (default: ENGINEWATCH_INPUT_TOPIC, `notify`)"
    )
    parser.add_argument(
        "--partitions",
        type=positive_int,
        metavar="N",
        help="partitions of the topic when it has to be created (default: ENGINEWATCH_PARTITIONS)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        metavar="FILE",
        help="write a recording (JSON Lines) instead of publishing; implies --fast",
    )
    parser.add_argument(
        "--seed", type=int, default=1, help="same seed, same engines and messages (default 1)"
    )
    parser.add_argument(
        "--start",
        type=_timestamp,
        metavar="TIME",
        help="the simulated clock's start, RFC 3339 (default: now)",
    )
    parser.add_argument(
        "--fast", action="store_true", help="send as fast as possible, not in simulated time"
    )
    parser.add_argument(
        "--incidents",
        action="store_true",
        help="the second engine falls into error for a while, the third runs hot (CPU above "
        "90 %%), at shares of --duration (of every 10 minutes without one)",
    )
    parser.add_argument(
        "--model-streams",
        metavar="PREFIX",
        help="also publish a model's inputs (shifting halfway), predictions and truths on "
        "PREFIX-inputs, PREFIX-predictions, PREFIX-truths (needs --duration)",
    )
    parser.add_argument(
        "--streams-rate",
        type=positive_float,
        default=25.0,
        metavar="R",
        help="the model streams' input records per second (default 25)",
    )
    parser.add_argument(
        "--streams-align",
        type=positive_float,
        default=1.0,
        metavar="S",
        help="the model streams start at a multiple of S seconds since the epoch, so "
        "monitor windows of S start full (default 1)",
    )


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    if (args.fast or args.output) and args.duration is None:
        print("enginewatch simulate: --fast and --output need a --duration", file=sys.stderr)
        return 2
    if args.model_streams and (args.duration is None or args.output is not None):
        print("enginewatch simulate: --model-streams needs a --duration and Kafka", file=sys.stderr)
        return 2
    config = FleetConfig(
        engines=args.engines,
        rate=args.rate,
        start=args.start or datetime.now(UTC),
        duration=args.duration,
        seed=args.seed,
        incidents=args.incidents,
    )
    if args.map_out is not None:
        write_engine_map(args.map_out, engine_map(build_fleet(config.engines, config.seed)))
        print(f"engine map of {config.engines} engine(s) in {args.map_out}", file=sys.stderr)
    messages = notifications(config)
    if args.output is not None:
        count = write_recording(args.output, messages)
        print(f"wrote {count:,} notification(s) to {args.output}", file=sys.stderr)
        return 0
    topic = args.topic or settings.topics.input_topic
    bootstrap = bootstrap_servers(settings.kafka.broker)
    streams = None
    if args.model_streams:
        streams = ModelStreamsConfig(
            config.start,
            float(args.duration),
            rate=args.streams_rate,
            seed=args.seed,
            align=args.streams_align,
        )
    try:
        (sent, failed), streamed = asyncio.run(
            _publish_all(
                messages,
                config,
                streams,
                args.model_streams or "",
                kafka=_Kafka(
                    bootstrap,
                    KafkaSecurity.from_config(settings.kafka),
                    settings.kafka.replication_factor,
                ),
                topic=topic,
                partitions=args.partitions or settings.topics.partitions,
                paced=not args.fast,
            )
        )
    except (ToolError, KafkaError) as exc:
        print(f"enginewatch simulate: {describe(exc, bootstrap)}", file=sys.stderr)
        return 2
    if streams is not None:
        print(
            f"sent {streamed[0]:,} model stream record(s) to {args.model_streams}-*",
            file=sys.stderr,
        )
        failed += streamed[1]
    summary = f"sent {sent:,} notification(s) of {config.engines} engine(s) to {topic}"
    if failed:
        print(f"{summary}; {failed:,} could not be sent (see the errors above)", file=sys.stderr)
        return 1
    print(summary, file=sys.stderr)
    return 0


def write_engine_map(path: Path, mapping: dict[str, str]) -> None:
    """Write `{uuid: model name}` as UTF-8 JSON, atomically: a reader never sees half."""
    data = orjson.dumps(mapping, option=orjson.OPT_INDENT_2) + NEWLINE
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_recording(path: Path, messages: Iterable[Notification]) -> int:
    count = 0
    with path.open("wb") as stream:
        for message in messages:
            stream.write(message.value + NEWLINE)
            count += 1
    return count


@dataclass(frozen=True)
class _Kafka:
    """Where the simulation publishes, and how topics are made there."""

    bootstrap: str
    security: KafkaSecurity
    replication_factor: int | None

    def sender(self, topic: str) -> Sender:
        return Sender(self.bootstrap, topic, self.security)

    async def ensure_topic(self, topic: str, partitions: int) -> None:
        await ensure_topic(
            self.bootstrap,
            topic,
            partitions,
            security=self.security,
            replication_factor=self.replication_factor,
        )


async def _publish_all(
    messages: Iterable[Notification],
    config: FleetConfig,
    streams: ModelStreamsConfig | None,
    prefix: str,
    *,
    kafka: _Kafka,
    topic: str,
    partitions: int,
    paced: bool,
) -> tuple[tuple[int, int], tuple[int, int]]:
    """The fleet's notifications and, beside them, the model streams; (sent, failed) of each."""
    stop = stop_event()  # one for both: a signal has one handler
    await check_connection(kafka.bootstrap, kafka.security)  # a refused password: one line
    fleet = _publish(
        messages,
        config,
        kafka=kafka,
        topic=topic,
        partitions=partitions,
        paced=paced,
        stop=stop,
    )
    if streams is None:
        return await fleet, (0, 0)
    records = model_streams(streams)
    return await asyncio.gather(
        fleet, _publish_streams(records, streams, prefix, kafka, paced, stop)
    )


async def _publish_streams(
    records: Iterable[StreamRecord],
    config: ModelStreamsConfig,
    prefix: str,
    kafka: _Kafka,
    paced: bool,
    stop: asyncio.Event,
) -> tuple[int, int]:
    """The model streams, each on its topic (one partition: in time order), in their time."""
    senders = {role: kafka.sender(f"{prefix}-{role}") for role in ROLES}
    for sender in senders.values():
        await kafka.ensure_topic(sender.topic, 1)
        await sender.start()
    start_us = round(config.start.timestamp() * 1e6)
    pacer = Pacer()
    try:
        for number, record in enumerate(records):
            if paced:
                await pacer.wait_until((record.time_us - start_us) / 1e6, stop)
            if stop.is_set():
                break
            await senders[record.role].send(record.value, record.key, f"{record.role} {number}")
    finally:
        for sender in senders.values():
            await sender.stop()
    return (
        sum(s.sent for s in senders.values()),
        sum(len(s.failures) for s in senders.values()),
    )


async def _publish(
    messages: Iterable[Notification],
    config: FleetConfig,
    *,
    kafka: _Kafka,
    topic: str,
    partitions: int,
    paced: bool,
    stop: asyncio.Event,
) -> tuple[int, int]:
    await kafka.ensure_topic(topic, partitions)
    sender = kafka.sender(topic)
    progress = Progress(f"simulate {topic}")
    start_us = round(config.start.timestamp() * 1e6)
    fraction: float | None = None
    await sender.start()
    pacer = Pacer()
    count = 0
    try:
        for message in messages:
            offset = (message.time_us - start_us) / 1e6
            if paced:
                await pacer.wait_until(offset, stop)
            if stop.is_set():
                break
            await sender.send(message.value, message.key, f"notification {count + 1}")
            count += 1
            if config.duration is not None:
                fraction = offset / config.duration
            progress.update(count, fraction=fraction)
        await sender.flush()
    finally:
        await sender.stop()
        progress.close(sender.sent, fraction=fraction)
    return sender.sent, len(sender.failures)


def _timestamp(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an RFC 3339 time: {text!r}") from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"needs a UTC offset or Z: {text!r}")
    return moment.astimezone(UTC)
