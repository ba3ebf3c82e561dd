"""Delivery, pure: which transitions a receiver is told of, what it is
reminded of, and what the `alert-deliveries` table keeps of each alert.

    plan:      a batch of the alerts topic + the table (read only) -> notices + records
    reminders: the table -> the firing alerts due a reminder
    expired:   the table -> the records no longer needed

A receiver is told of every transition that fires or ends a firing alert
(its `fired_at` is set); `pending` and the other quiet changes are not
notifications. The table keeps, per receiver and alert fingerprint, the last
transition that receiver was told of (`Delivered`), written once it took it;
so a transition at or before it, in the order of (time, sequence), is a
repeat (the alerts worker sent it again after a crash, or this worker read
it again after one) and is not sent again. A record that fires stays while
the alert fires (the reminders and Alertmanager's re-sends come from it); one
that ended is kept RESOLVED_KEPT seconds, long enough to know a late repeat
for what it is, then dropped, as is a record of a receiver no longer
configured.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from alerts.payloads import FIRST, REPEAT, RESOLVED, UPDATE, Notice

# Stable: the table's name is part of its changelog topic, so renaming it loses state.
DELIVERIES_TABLE = "alert-deliveries"
# Seconds (wall clock) a record of an alert that ended is kept.
RESOLVED_KEPT = 86400.0


def record_key(receiver: str, fingerprint: str) -> str:
    return f"{receiver}/{fingerprint}"


@dataclass(frozen=True, slots=True)
class Delivered:
    """What a receiver was last told of an alert: the transition, the alerts
    topic's partition it came from (the table's partition), and when it was
    told (wall clock, s: the reminders count from it)."""

    receiver: str
    partition: int
    transition: Mapping[str, Any]
    told: float

    @property
    def firing(self) -> bool:
        return bool(self.transition["firing"])

    @property
    def position(self) -> tuple[int, int]:
        return int(self.transition["time"]), int(self.transition["sequence"])

    def to_table(self) -> dict[str, Any]:
        return {
            "receiver": self.receiver,
            "partition": self.partition,
            "transition": dict(self.transition),
            "told": self.told,
        }

    @classmethod
    def from_table(cls, value: Any) -> Delivered | None:
        if not isinstance(value, dict):
            return None
        receiver, partition = value.get("receiver"), value.get("partition")
        transition, told = value.get("transition"), value.get("told")
        if (
            not isinstance(receiver, str)
            or not isinstance(partition, int)
            or not isinstance(told, int | float)
            or transition_problem(transition) is not None
        ):
            return None
        assert isinstance(transition, dict)
        return cls(receiver, partition, transition, float(told))


@dataclass(slots=True)
class Counts:
    transitions: int = 0
    notices: int = 0
    repeated: int = 0  # at or before what the receiver was told of the alert
    malformed: int = 0  # not a transition (alert-v1)


@dataclass(frozen=True, slots=True)
class Plan:
    """A batch's notices for one receiver, in order, and the records to keep
    once the receiver took them all: key -> (partition, value; None: delete)."""

    notices: list[Notice]
    records: dict[str, tuple[int, dict[str, Any] | None]]
    counts: Counts = field(default_factory=Counts)


def plan(
    receiver: str, batch: Iterable[tuple[int, bytes | None]], table: Mapping[str, Any], wall: float
) -> Plan:
    """What `receiver` is told of a batch of the alerts topic: (partition,
    value) in order; `wall` is the time it is told (s)."""
    counts = Counts()
    notices: list[Notice] = []
    records: dict[str, tuple[int, dict[str, Any] | None]] = {}
    latest: dict[str, Delivered | None] = {}
    for partition, value in batch:
        counts.transitions += 1
        transition = decode_transition(value)
        if transition is None:
            counts.malformed += 1
            continue
        if transition["fired_at"] is None:
            continue  # neither fires nor ends a firing alert: nothing to tell
        key = record_key(receiver, transition["fingerprint"])
        if key not in latest:
            latest[key] = Delivered.from_table(table.get(key))
        before = latest[key]
        position = (transition["time"], transition["sequence"])
        if before is not None and position <= before.position:
            counts.repeated += 1
            continue
        notices.append(Notice(transition, _reason(transition, before)))
        told = Delivered(receiver, partition, transition, wall)
        latest[key] = told
        records[key] = (partition, told.to_table())
    counts.notices = len(notices)
    return Plan(notices, records, counts)


def _reason(transition: Mapping[str, Any], before: Delivered | None) -> str:
    if not transition["firing"]:
        return RESOLVED
    if (
        before is not None
        and before.firing
        and before.transition["fired_at"] == transition["fired_at"]
    ):
        return UPDATE
    return FIRST


def firing(
    receiver: str, table: Iterable[tuple[str, Any]], partitions: set[int]
) -> list[Delivered]:
    """The receiver's records of alerts that fire, in the given partitions
    (the worker's active ones: each alert is re-sent by one worker)."""
    prefix = f"{receiver}/"
    found = []
    for key, value in table:
        if not key.startswith(prefix):
            continue
        record = Delivered.from_table(value)
        if record is not None and record.firing and record.partition in partitions:
            found.append(record)
    return sorted(found, key=lambda r: (r.partition, r.transition["fingerprint"]))


def reminders(
    receiver: str, table: Iterable[tuple[str, Any]], partitions: set[int], wall: float, every: float
) -> tuple[list[Notice], dict[str, tuple[int, dict[str, Any] | None]]]:
    """The firing alerts the receiver was last told of `every` seconds or more
    before `wall`: their notices (the same transition, reason "repeat interval
    elapsed", so a receiver knows it for the same alert) and the records to
    keep once it took them (told again now)."""
    notices = []
    records: dict[str, tuple[int, dict[str, Any] | None]] = {}
    for record in firing(receiver, table, partitions):
        if wall - record.told < every:
            continue
        notices.append(Notice(record.transition, REPEAT))
        again = Delivered(receiver, record.partition, record.transition, wall)
        records[record_key(receiver, record.transition["fingerprint"])] = (
            record.partition,
            again.to_table(),
        )
    return notices, records


def expired(
    table: Iterable[tuple[str, Any]], receivers: set[str], partitions: set[int], wall: float
) -> dict[str, int]:
    """The records to drop (key -> partition): of alerts that ended
    RESOLVED_KEPT seconds ago or more, of receivers not configured, and values
    of no known shape."""
    dropped = {}
    for key, value in table:
        record = Delivered.from_table(value)
        if record is None:
            partition = value.get("partition") if isinstance(value, dict) else None
            if isinstance(partition, int) and partition in partitions:
                dropped[key] = partition
            continue
        if record.partition not in partitions:
            continue
        if record.receiver not in receivers or (
            not record.firing and wall - record.told >= RESOLVED_KEPT
        ):
            dropped[key] = record.partition
    return dropped


def decode_transition(value: bytes | None) -> dict[str, Any] | None:
    """A message of the alerts topic as a transition, or None when it is not one."""
    try:
        transition = orjson.loads(value or b"")
    except orjson.JSONDecodeError:
        return None
    return transition if transition_problem(transition) is None else None


_TYPES: dict[str, type | tuple[type, ...]] = {
    "fingerprint": str,
    "alertname": str,
    "state": str,
    "previous": str,
    "firing": bool,
    "time": int,
    "sequence": int,
    "labels": dict,
    "annotations": dict,
}


def transition_problem(transition: Any) -> str | None:
    """Why a value is not a transition delivery can use, or None when it is:
    the keys delivery reads, of their types (alert-v1.schema.json)."""
    if not isinstance(transition, dict):
        return "not a JSON object"
    if transition.get("version") != 1:
        return f"version {transition.get('version')!r}, not 1"
    for key, kind in _TYPES.items():
        value = transition.get(key)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            return f"{key}: missing or not {getattr(kind, '__name__', kind)}"
    fired_at = transition.get("fired_at")
    if fired_at is not None and (not isinstance(fired_at, int) or isinstance(fired_at, bool)):
        return "fired_at: not an integer or null"
    if transition["firing"] and fired_at is None:
        return "fired_at: null in a firing transition"
    labels, annotations = transition["labels"], transition["annotations"]
    if not all(isinstance(v, str) for v in (*labels.values(), *annotations.values())):
        return "labels and annotations must be strings"
    return None
