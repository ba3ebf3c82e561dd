"""`enginewatch record TOPIC FILE`: write a topic's message values into a JSON Lines file.

One value per line, byte for byte, in the order consumed (per-partition
order is kept). Reads from the beginning of the topic or from now, until
`--count` messages, `--idle-timeout` seconds without a message, or Ctrl-C.
Values a line cannot hold (null values, values with a line feed) are kept
in a side file as dead-letter messages, and the exit status is 1.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from aiokafka import TopicPartition
from aiokafka.errors import KafkaError

from enginewatch.core.deadletters import dead_letter
from enginewatch.core.kafka import (
    ToolError,
    bootstrap_servers,
    check_connection,
    consumer_client,
    describe,
    topic_partitions,
)
from enginewatch.core.kafkasecurity import KafkaSecurity
from enginewatch.core.points import Origin
from enginewatch.core.settings import load_settings
from enginewatch.tools.arguments import positive_float, positive_int
from enginewatch.tools.progress import Progress
from enginewatch.tools.recording import NEWLINE, unrecordable
from enginewatch.tools.signals import stop_event

POLL_MS = 200


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("topic", metavar="TOPIC", help="the topic to record")
    parser.add_argument("file", metavar="FILE", type=Path, help="the recording to write")
    parser.add_argument(
        "--from",
        dest="start",
        choices=["beginning", "now"],
        default="now",
        help="record what the topic holds from its beginning, or only new messages (default)",
    )
    parser.add_argument("--count", type=positive_int, metavar="N", help="stop after N messages")
    parser.add_argument(
        "--idle-timeout",
        type=positive_float,
        metavar="S",
        help="stop when no message came for S seconds",
    )


@dataclass
class Outcome:
    recorded: int = 0
    unrecorded: int = 0


def unrecorded_path(path: Path) -> Path:
    """Where the values a recording cannot hold are kept."""
    return path.with_name(path.name + ".unrecorded.jsonl")


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    bootstrap = bootstrap_servers(settings.kafka.broker)
    security = KafkaSecurity.from_config(settings.kafka)
    path: Path = args.file
    # The topic first: a mistyped name leaves no empty recording behind.
    try:
        partitions = asyncio.run(_partitions(bootstrap, security, args.topic))
    except (ToolError, KafkaError) as exc:
        print(f"enginewatch record: {describe(exc, bootstrap)}", file=sys.stderr)
        return 2
    if partitions is None:
        print(f"enginewatch record: no such topic: {args.topic}", file=sys.stderr)
        return 2
    try:
        stream = path.open("wb")
    except OSError as exc:
        print(f"enginewatch record: cannot write {path}: {exc.strerror}", file=sys.stderr)
        return 2
    try:
        with stream:
            outcome = asyncio.run(
                _record(
                    bootstrap,
                    security,
                    args.topic,
                    partitions,
                    stream,
                    path,
                    from_beginning=args.start == "beginning",
                    limit=args.count,
                    idle_timeout=args.idle_timeout,
                )
            )
    except (ToolError, KafkaError) as exc:
        print(f"enginewatch record: {describe(exc, bootstrap)}", file=sys.stderr)
        return 2
    print(
        f"recorded {outcome.recorded:,} message(s) from {args.topic} into {path}", file=sys.stderr
    )
    if outcome.unrecorded:
        print(
            f"enginewatch record: {outcome.unrecorded:,} value(s) cannot be held by a line "
            f"(null, or containing a line feed); kept in {unrecorded_path(path)}",
            file=sys.stderr,
        )
        return 1
    return 0


async def _partitions(bootstrap: str, security: KafkaSecurity, topic: str) -> list[int] | None:
    await check_connection(bootstrap, security)  # a refused password: one line
    return await topic_partitions(bootstrap, topic, security=security)


async def _record(
    bootstrap: str,
    security: KafkaSecurity,
    topic: str,
    partitions: list[int],
    stream: BinaryIO,
    path: Path,
    *,
    from_beginning: bool,
    limit: int | None,
    idle_timeout: float | None,
) -> Outcome:
    stop = stop_event()
    consumer = consumer_client(bootstrap, security, enable_auto_commit=False, group_id=None)
    await consumer.start()
    outcome = Outcome()
    progress = Progress(f"record {topic}", limit)
    side: BinaryIO | None = None
    try:
        assigned = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(assigned)
        if from_beginning:
            await consumer.seek_to_beginning(*assigned)
        else:
            await consumer.seek_to_end(*assigned)
        # Resolve the positions now, so "from now" means from this line on.
        offsets = {tp.partition: await consumer.position(tp) for tp in assigned}
        print(
            f"recording {topic} from {'the beginning' if from_beginning else 'now'} "
            f"(next offsets {offsets}) into {path}",
            file=sys.stderr,
            flush=True,
        )
        last_message = time.monotonic()
        while not stop.is_set() and (limit is None or outcome.recorded < limit):
            remaining = None if limit is None else limit - outcome.recorded
            batch = await consumer.getmany(timeout_ms=POLL_MS, max_records=remaining)
            if not batch:
                if idle_timeout is not None and time.monotonic() - last_message >= idle_timeout:
                    break
                continue
            last_message = time.monotonic()
            for messages in batch.values():
                for message in messages:
                    reason = unrecordable(message.value)
                    if reason is None:
                        stream.write(message.value + NEWLINE)
                        outcome.recorded += 1
                        continue
                    if side is None:
                        side = unrecorded_path(path).open("wb")
                    origin = Origin(message.topic, message.partition, message.offset)
                    side.write(dead_letter(reason, origin, message.value, "record") + NEWLINE)
                    outcome.unrecorded += 1
            progress.update(outcome.recorded)
    finally:
        await consumer.stop()
        stream.flush()
        if side is not None:
            side.close()
        progress.close(outcome.recorded)
    return outcome
