"""`enginewatch replay FILE --topic T`: send a recording's lines to a topic, byte for byte.

Each line is one message value, sent exactly as it is in the file (invalid
lines included). The topic is created when missing. Pacing is as fast as
possible, a fixed `--rate`, or `--timing original` (the spacing of the
messages' own timestamps).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import BinaryIO

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
from enginewatch.tools.pacing import FixedRate, OriginalTiming, Pacer, Schedule
from enginewatch.tools.progress import Progress
from enginewatch.tools.recording import message_time, parse_object, read_values, src_key
from enginewatch.tools.signals import stop_event


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", help="the recording (JSON Lines); - for stdin")
    parser.add_argument("--topic", required=True, help="the topic to send to")
    pace = parser.add_mutually_exclusive_group()
    pace.add_argument("--rate", type=positive_float, metavar="N", help="send N messages per second")
    pace.add_argument(
        "--timing",
        choices=["original"],
        help="original: space the messages as their `timestamp` fields are",
    )
    parser.add_argument(
        "--speed",
        type=positive_float,
        default=1.0,
        metavar="F",
        help="with --timing original, run F times faster (default 1)",
    )
    parser.add_argument(
        "--key",
        choices=["src"],
        help="src: key each message by its JSON `src` (null when the line does not parse)",
    )
    parser.add_argument(
        "--partitions",
        type=positive_int,
        default=None,
        metavar="N",
        help="partitions of the topic when it has to be created (default 1)",
    )


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    if args.speed != 1.0 and args.timing != "original":
        print("enginewatch replay: --speed goes with --timing original", file=sys.stderr)
        return 2
    schedule: Schedule
    if args.rate is not None:
        schedule = FixedRate(args.rate)
    elif args.timing == "original":
        schedule = OriginalTiming(args.speed)
    else:
        schedule = Schedule()
    with ExitStack() as stack:
        if args.file == "-":
            stream: BinaryIO = sys.stdin.buffer
            total = None
        else:
            path = Path(args.file)
            try:
                stream = stack.enter_context(path.open("rb"))
            except OSError as exc:
                print(f"enginewatch replay: cannot read {path}: {exc.strerror}", file=sys.stderr)
                return 2
            total = _count_lines(path) if sys.stderr.isatty() else None
        bootstrap = bootstrap_servers(settings.kafka.broker)
        try:
            sent, failed = asyncio.run(
                _replay(
                    stream,
                    label=args.file,
                    bootstrap=bootstrap,
                    security=KafkaSecurity.from_config(settings.kafka),
                    replication_factor=settings.kafka.replication_factor,
                    topic=args.topic,
                    partitions=args.partitions,
                    schedule=schedule,
                    key_by_src=args.key == "src",
                    total=total,
                )
            )
        except (ToolError, KafkaError) as exc:
            print(f"enginewatch replay: {describe(exc, bootstrap)}", file=sys.stderr)
            return 2
    summary = f"replayed {sent:,} message(s) from {args.file} into topic {args.topic}"
    if failed:
        print(f"{summary}; {failed:,} could not be sent (see the errors above)", file=sys.stderr)
        return 1
    print(summary, file=sys.stderr)
    return 0


async def _replay(
    stream: BinaryIO,
    *,
    label: str,
    bootstrap: str,
    security: KafkaSecurity,
    replication_factor: int | None,
    topic: str,
    partitions: int | None,
    schedule: Schedule,
    key_by_src: bool,
    total: int | None,
) -> tuple[int, int]:
    stop = stop_event()
    await check_connection(bootstrap, security)  # a refused password: one line
    count, created = await ensure_topic(
        bootstrap,
        topic,
        partitions or 1,
        security=security,
        replication_factor=replication_factor,
    )
    if not created and partitions is not None and count != partitions:
        print(
            f"enginewatch replay: topic {topic} exists with {count} partition(s); "
            f"--partitions {partitions} applies only when it is created",
            file=sys.stderr,
        )
    needs_parse = key_by_src or isinstance(schedule, OriginalTiming)
    sender = Sender(bootstrap, topic, security)
    progress = Progress(f"replay {topic}", total)
    await sender.start()
    pacer = Pacer()
    index = 0
    try:
        for index, value in enumerate(read_values(stream)):
            if stop.is_set():
                break
            message = parse_object(value) if needs_parse else None
            await pacer.wait_until(schedule.due(index, message_time(message)), stop)
            if stop.is_set():
                break
            key = src_key(message) if key_by_src else None
            await sender.send(value, key, f"{label}:{index + 1}")
            progress.update(index + 1)
        await sender.flush()
    finally:
        await sender.stop()
        progress.close(sender.sent)
    return sender.sent, len(sender.failures)


def _count_lines(path: Path) -> int:
    """Lines in the file, for the ETA (a last line without a line feed counts too)."""
    count = 0
    last = b"\n"
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            count += chunk.count(b"\n")
            last = chunk[-1:]
    return count + (0 if last == b"\n" else 1)
