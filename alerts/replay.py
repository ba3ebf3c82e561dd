"""`enginewatch alerts replay RECORDING`, offline: what the rules would have
fired on a recording of the engines' topic, with no broker and no worker.

The recording (`enginewatch record`'s JSON Lines, one message value a line)
goes through what the workers do, in-process and in order:

    lines --derive_archive--> archive messages --partitioned by engine--> alerts stage

- the agents' derivation (agents/stages.py `derive_archive`, the input keyed
  by `src`), their carried amounts kept from batch to batch as the agents'
  table keeps them; an invalid line is a dead letter, counted;
- each archive message assigned the partition the producer would give its key
  (the engine) among `partitions` (Kafka's murmur2, as aiokafka computes it),
  with the next offset there, so each engine's points meet the same partition
  clock as on the broker;
- the pure alerts stage (alerts/stage.py `evaluate`) per archive message, its
  states kept as the table keeps them.

Event time only: the clock of a partition is its latest point time, so the
transitions are the worker's for the same input. The wall clock's part (an
idle partition, alerts/README.md) has no place offline: at the end of the
recording nothing more is judged, and the alerts still firing are listed as
such. Model names come from the engine map file (ENGINEWATCH_ENGINE_MAP or
`--engine-map`) and the engines' output reports; Composer and Connect are
not asked.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import orjson
from aiokafka.partitioner import murmur2

from agents.records import Input
from agents.resolve.resolver import UNKNOWN
from agents.stages import derive_archive
from alerts.payloads import rfc3339
from alerts.ruleset import Rules
from alerts.stage import ArchiveInput, evaluate
from enginewatch.core.points import Origin, decode_archive
from enginewatch.core.settings import UnknownTypes

# The agents' derive batch (agents/app.py): a batch's points per engine make one archive message.
BATCH = 1000
RECORDING_TOPIC = "recording"
ARCHIVE_TOPIC = "archive"


@dataclass(slots=True)
class ReplayResult:
    """The transitions, in the order the stage gave them (per partition, in
    order), and what went through."""

    transitions: list[dict[str, Any]] = field(default_factory=list)
    lines: int = 0
    dead_letters: int = 0
    archive_messages: int = 0
    points: int = 0

    def firing_at_end(self) -> list[dict[str, Any]]:
        """The last transition of each alert that still fires after the recording."""
        last: dict[str, dict[str, Any]] = {}
        for transition in self.transitions:
            last[transition["fingerprint"]] = transition
        return sorted(
            (t for t in last.values() if t["firing"]), key=lambda t: (t["fired_at"], t["alertname"])
        )


def recording_values(stream: BinaryIO) -> Iterator[bytes]:
    """A recording's values, in order: each line without its line feed (a last
    line without one is a value too), as `enginewatch record` wrote them."""
    for line in stream:
        yield line[:-1] if line.endswith(b"\n") else line


def partition_for(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner (aiokafka's too) gives a key."""
    return int(murmur2(key) & 0x7FFFFFFF) % partitions


def replay(
    values: Iterable[bytes],
    rules: Rules,
    partitions: int,
    model_for: Callable[[str], str] = lambda _engine: UNKNOWN,
    unknown: UnknownTypes = "count",
    tutorial_names: bool = False,
) -> ReplayResult:
    """The recording's values through the agents' derivation and the alerts stage."""
    result = ReplayResult()
    carried: dict[str, Any] = {}
    states: dict[str, Any] = {}
    offsets = [0] * partitions
    batch: list[Input] = []

    def derive() -> None:
        output = derive_archive(batch, model_for, carried, unknown, tutorial_names)
        result.dead_letters += len(output.rejects)
        for engine, (_, state) in output.states.items():
            carried[engine] = state.to_table(partition_for(engine.encode(), partitions), 0.0)
        for key, value, _ in output.messages:
            partition = partition_for(key, partitions)
            origin = Origin(ARCHIVE_TOPIC, partition, offsets[partition])
            offsets[partition] += 1
            result.archive_messages += 1
            result.points += len(decode_archive(value))
            out = evaluate([ArchiveInput(origin, value)], rules, states, 0.0)
            result.transitions += [orjson.loads(v) for _, v in out.transitions]
            _keep(states, out.states)
        batch.clear()

    for line, value in enumerate(values):
        result.lines += 1
        batch.append(Input(Origin(RECORDING_TOPIC, 0, line), _src(value), value))
        if len(batch) >= BATCH:
            derive()
    if batch:
        derive()
    return result


def _keep(states: dict[str, Any], writes: Mapping[str, tuple[int, dict[str, Any] | None]]) -> None:
    for key, (_, value) in writes.items():
        if value is None:
            states.pop(key, None)
        else:
            states[key] = value


def _src(value: bytes) -> bytes | None:
    try:
        message = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    src = message.get("src") if isinstance(message, dict) else None
    return src.encode() if isinstance(src, str) else None


def report(result: ReplayResult, rules: Rules) -> str:
    """The transitions, one line each in event time order, the alerts still
    firing at the end, and a summary line."""
    lines = []
    ordered = sorted(result.transitions, key=lambda t: (t["time"], t["fingerprint"], t["sequence"]))
    for t in ordered:
        tags = " ".join(f"{k}={v}" for k, v in t["tags"].items())
        value = "" if t["value"] is None else f"  value={_shown(t['value'])}"
        summary = t["annotations"].get("summary")
        lines.append(
            f"{rfc3339(t['time'])}  {t['alertname']}  {t['severity']}  "
            f"{t['previous']} -> {t['state']}{' (fires)' if t['firing'] else ''}  {tags}{value}"
            + (f"  {summary}" if summary else "")
        )
    firing = result.firing_at_end()
    if firing:
        lines.append("firing at the end of the recording:")
        for t in firing:
            tags = " ".join(f"{k}={v}" for k, v in t["tags"].items())
            lines.append(f"  {t['alertname']}  {tags}  since {rfc3339(t['fired_at'])}")
    alerts = len({t["fingerprint"] for t in result.transitions if t["firing"]})
    lines.append(
        f"{result.lines} line(s), {result.dead_letters} dead letter(s), {result.points} point(s) "
        f"in {result.archive_messages} archive message(s); {len(result.transitions)} "
        f"transition(s), {alerts} alert(s) fired, {len(firing)} firing at the end "
        f"({len(rules)} rule(s) of {rules.path})"
    )
    return "\n".join(lines)


def _shown(value: Any) -> str:
    return format(value, ".6g") if isinstance(value, float) else str(value)
