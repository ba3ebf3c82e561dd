"""What the alerts worker keeps in its table, `alert-states`, as JSON.

Three kinds of keys, all living in the changelog partition of the archive
partition whose points they follow (a series follows one engine, and an
engine's points all arrive in one partition, as the archive topic is keyed by
engine):

    series/{fingerprint}      one series of one rule (`SeriesRecord`): its
                              lifecycle state (alerts/lifecycle.py), its rule,
                              tags and labels, and the offset of the last
                              archive message applied per archive partition
    clock/{topic}/{partition} the partition's clock (`Clock`): the latest point
                              time seen there, and the wall time of its last
                              message
    index/{topic}/{partition} the partition's series and, for each, a time at or
                              before its next deadline (`Index`), so the clock
                              reaching a deadline finds the series without
                              reading every key

A series is written only after the transitions and points it stands for are on
the broker, and an archive message at or below the series' applied offset is
skipped: a message redelivered after a crash, a restart or a rebalance is
either skipped (its transitions went out) or evaluated again from the same
state (the same transitions, with the same sequence numbers), exactly as the
agents' carried amounts are (agents/state.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from alerts import windows
from alerts.lifecycle import STATES, Series
from enginewatch.core.points import Origin

# Stable: the table's name is part of its changelog topic, so renaming it loses state.
ALERT_STATES_TABLE = "alert-states"


def partition_name(topic: str, partition: int) -> str:
    return f"{topic}/{partition}"


def series_key(fingerprint: str) -> str:
    return f"series/{fingerprint}"


def clock_key(topic: str, partition: int) -> str:
    return f"clock/{partition_name(topic, partition)}"


def index_key(topic: str, partition: int) -> str:
    return f"index/{partition_name(topic, partition)}"


@dataclass(frozen=True, slots=True)
class SeriesRecord:
    rule: str
    tags: Mapping[str, str]  # the group's tags
    labels: Mapping[str, str]  # all that identify the alert (its fingerprint's labels)
    series: Series = field(default_factory=Series)
    applied: Mapping[str, int] = field(default_factory=dict)

    def has_applied(self, origin: Origin) -> bool:
        """Whether the archive message at `origin` (or a later one of its partition) was applied."""
        last = self.applied.get(partition_name(origin.topic, origin.partition))
        return last is not None and origin.offset <= last

    def after(self, origin: Origin | None, series: Series) -> SeriesRecord:
        """The record once `series` is the state, the message at `origin` applied."""
        if origin is None:
            return SeriesRecord(self.rule, self.tags, self.labels, series, self.applied)
        applied = {**self.applied, partition_name(origin.topic, origin.partition): origin.offset}
        return SeriesRecord(self.rule, self.tags, self.labels, series, applied)

    def to_table(self) -> dict[str, Any]:
        s = self.series
        return {
            "rule": self.rule,
            "tags": dict(self.tags),
            "labels": dict(self.labels),
            "state": s.state,
            "announced": s.announced,
            "firing": s.firing,
            "since": s.since,
            "fired_at": s.fired_at,
            "value": s.value,
            "values": windows.to_json(s.values),
            "denominators": windows.to_json(s.denominators),
            "gate": s.gate,
            "first_seen": s.first_seen,
            "last_seen": s.last_seen,
            "last_point": s.last_point,
            "now": s.now,
            "flaps": s.flaps,
            "evaluations": s.evaluations,
            "sequence": s.sequence,
            "applied": dict(self.applied),
        }

    @classmethod
    def from_table(cls, value: Any) -> SeriesRecord | None:
        """The record a table value holds; None for nothing (or a value of no known shape)."""
        if not isinstance(value, dict) or not isinstance(value.get("rule"), str):
            return None
        try:
            series = Series(
                state=_state(value["state"]),
                announced=_state(value["announced"]),
                firing=bool(value["firing"]),
                since=_time(value.get("since")),
                fired_at=_time(value.get("fired_at")),
                value=_field_value(value.get("value")),
                values=windows.from_json(value.get("values")),
                denominators=windows.from_json(value.get("denominators")),
                gate=_field_value(value.get("gate")),
                first_seen=_time(value.get("first_seen")),
                last_seen=_time(value.get("last_seen")),
                last_point=_time(value.get("last_point")),
                now=_time(value.get("now")),
                flaps=int(value.get("flaps", 0)),
                evaluations=int(value.get("evaluations", 0)),
                sequence=int(value.get("sequence", 0)),
            )
            tags = {str(k): str(v) for k, v in dict(value["tags"]).items()}
            labels = {str(k): str(v) for k, v in dict(value["labels"]).items()}
            applied = {str(k): int(v) for k, v in dict(value.get("applied") or {}).items()}
        except (KeyError, TypeError, ValueError, IndexError):
            return None
        return cls(value["rule"], tags, labels, series, applied)


def _state(value: Any) -> str:
    if value not in STATES:
        raise ValueError(f"unknown state {value!r}")
    return str(value)


def _time(value: Any) -> int | None:
    return None if value is None else int(value)


def _field_value(value: Any) -> float | int | str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        raise ValueError("a boolean is no field value")
    if isinstance(value, int | float):
        return value
    raise ValueError(f"not a field value: {value!r}")


@dataclass(frozen=True, slots=True)
class Clock:
    """A partition's clock: the latest point time seen (ns) and the wall time
    (Unix s) its latest message was evaluated at."""

    time: int | None = None
    wall: float | None = None

    def to_table(self) -> dict[str, Any]:
        return {"time": self.time, "wall": self.wall}

    @classmethod
    def from_table(cls, value: Any) -> Clock:
        if not isinstance(value, dict):
            return cls()
        time, wall = value.get("time"), value.get("wall")
        return cls(
            int(time) if isinstance(time, int) and not isinstance(time, bool) else None,
            float(wall) if isinstance(wall, int | float) and not isinstance(wall, bool) else None,
        )


@dataclass(frozen=True, slots=True)
class Index:
    """A partition's series: fingerprint -> (a time at or before its next
    deadline, its rule's identity), and the digest of the rules it was kept by."""

    rules: str = ""
    deadlines: dict[str, tuple[int, str]] = field(default_factory=dict)

    def to_table(self) -> dict[str, Any]:
        return {"rules": self.rules, "series": {k: list(v) for k, v in self.deadlines.items()}}

    @classmethod
    def from_table(cls, value: Any) -> Index:
        if not isinstance(value, dict) or not isinstance(value.get("series"), dict):
            return cls()
        deadlines: dict[str, tuple[int, str]] = {}
        for key, entry in value["series"].items():
            if (
                isinstance(entry, list)
                and len(entry) == 2
                and isinstance(entry[0], int)
                and isinstance(entry[1], str)
            ):
                deadlines[str(key)] = (entry[0], entry[1])
        rules = value.get("rules")
        return cls(rules if isinstance(rules, str) else "", deadlines)
