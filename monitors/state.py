"""What the monitors worker keeps in its table, `monitor-states`: one value per
monitor, under `monitor/{name}`, as JSON.

    {"applied": {"{kind}:{topic}/{partition}": offset},     the model records applied
     "lanes": {stream: Lane},                               each profiled stream
     "quality": Lane}                                       the join, when there is one

A lane is one event-time clock and its open windows: `watermark` (the latest
event time seen), `next` (the start of the first window still open: every
earlier one is closed and its points are out), `late` (records that came for
a closed window since the last close), `panes` (window start -> the
window's profiles or quality sums), the drift `reference` of a stream, and
the join's waiting records (`pending` by id, or `queues` in arrival order).

A monitor's whole state is one value, so one table write changes it at once:
a record's effect and the offset saying it was applied are never written
apart. The value is written only after the points it stands for are on the
broker, and a record at or below its applied offset is skipped: redelivered
after a crash, a restart or a rebalance, it is either skipped (its effect is
in the state) or applied again to the same state (the same points). Its size
is bounded: the panes of at most (lateness + label delay) / window + 1
windows, MAX_PENDING waiting records, and each sketch a few kilobytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from monitors.config import Monitor
from monitors.profile import Profile, new_profile, profile_from_json
from monitors.quality import QualitySums

# Stable: the table's name is part of its changelog topic, so renaming it loses state.
MONITOR_STATES_TABLE = "monitor-states"
# Records a join may hold waiting for their other side; beyond, the oldest is
# given up on (counted unmatched): the state stays one modest Kafka message.
MAX_PENDING = 5000


def state_key(monitor: str) -> str:
    return f"monitor/{monitor}"


@dataclass(slots=True)
class StreamPane:
    records: int = 0
    fields: dict[str, Profile] = field(default_factory=dict)


@dataclass(slots=True)
class Waiting:
    """A record waiting for its other side of the join."""

    kind: str  # "p" or "t"
    value: float | str
    time: int


@dataclass(slots=True)
class Lane:
    watermark: int | None = None
    next: int | None = None
    late: int = 0
    panes: dict[int, Any] = field(default_factory=dict)  # StreamPane or QualitySums
    reference: dict[str, Profile] | None = None
    pending: dict[str, Waiting] = field(default_factory=dict)
    queues: dict[str, list[Waiting]] = field(default_factory=lambda: {"p": [], "t": []})

    def waiting(self) -> int:
        return len(self.pending) + len(self.queues["p"]) + len(self.queues["t"])


@dataclass(slots=True)
class MonitorState:
    applied: dict[str, int] = field(default_factory=dict)
    lanes: dict[str, Lane] = field(default_factory=dict)
    quality: Lane = field(default_factory=Lane)

    def to_table(self, monitor: Monitor) -> dict[str, Any]:
        kinds = _kinds(monitor)
        return {
            "applied": dict(self.applied),
            "lanes": {
                name: _lane_json(lane, kinds.get(name, {}), stream=True)
                for name, lane in self.lanes.items()
            },
            "quality": _lane_json(self.quality, {}, stream=False),
        }

    @classmethod
    def from_table(cls, monitor: Monitor, value: Any) -> MonitorState:
        """The state a table value holds; a fresh one for nothing, or for a value
        of no known shape (logged by the stage as `reset`)."""
        if not isinstance(value, dict):
            return cls()
        kinds = _kinds(monitor)
        lanes: dict[str, Lane] = {}
        for name, raw in dict(value.get("lanes") or {}).items():
            if name in kinds:  # a stream no longer monitored is dropped
                lanes[str(name)] = _lane(raw, kinds[name], stream=True)
        applied = {str(k): int(v) for k, v in dict(value.get("applied") or {}).items()}
        quality = _lane(value.get("quality") or {}, {}, stream=False)
        return cls(applied, lanes, quality)


def _kinds(monitor: Monitor) -> dict[str, dict[str, str]]:
    return {s.stream: {n: f.type for n, f in s.fields.items()} for s in monitor.streams}


def _lane_json(lane: Lane, kinds: dict[str, str], stream: bool) -> dict[str, Any]:
    panes: dict[str, Any] = {}
    for start, pane in lane.panes.items():
        if stream:
            assert isinstance(pane, StreamPane)
            panes[str(start)] = {
                "records": pane.records,
                "fields": {n: p.to_json() for n, p in pane.fields.items() if n in kinds},
            }
        else:
            assert isinstance(pane, QualitySums)
            panes[str(start)] = pane.to_json()
    value: dict[str, Any] = {
        "watermark": lane.watermark,
        "next": lane.next,
        "late": lane.late,
        "panes": panes,
    }
    if lane.reference is not None:
        value["reference"] = {n: p.to_json() for n, p in lane.reference.items() if n in kinds}
    if lane.pending:
        value["pending"] = {k: [w.kind, w.value, w.time] for k, w in lane.pending.items()}
    if lane.queues["p"] or lane.queues["t"]:
        value["queues"] = {k: [[w.value, w.time] for w in q] for k, q in lane.queues.items()}
    return value


def _lane(raw: Any, kinds: dict[str, str], stream: bool) -> Lane:
    raw = dict(raw)
    lane = Lane(
        watermark=_int_or_none(raw.get("watermark")),
        next=_int_or_none(raw.get("next")),
        late=int(raw.get("late", 0)),
    )
    for start, pane in dict(raw.get("panes") or {}).items():
        if stream:
            lane.panes[int(start)] = StreamPane(
                int(pane["records"]),
                {
                    n: profile_from_json(kinds[n], p)
                    for n, p in dict(pane["fields"]).items()
                    if n in kinds
                },
            )
        else:
            lane.panes[int(start)] = QualitySums.from_json(pane)
    if "reference" in raw:
        lane.reference = {
            n: profile_from_json(kinds[n], p)
            for n, p in dict(raw["reference"]).items()
            if n in kinds
        }
    for key, (kind, value, time) in dict(raw.get("pending") or {}).items():
        lane.pending[str(key)] = Waiting(str(kind), value, int(time))
    for kind, queue in dict(raw.get("queues") or {}).items():
        lane.queues[str(kind)] = [Waiting(str(kind), value, int(time)) for value, time in queue]
    return lane


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


def fresh_profiles(kinds: Mapping[str, str]) -> dict[str, Profile]:
    return {name: new_profile(kind) for name, kind in kinds.items()}
