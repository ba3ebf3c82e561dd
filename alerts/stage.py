"""The alerts stage, pure: a batch of archive messages and the table (read only)
in; transitions, `alerts` points and the states to keep out.

    evaluate: archive messages -> transitions + alerts points + new states
    tick:     idle partitions, at a wall time -> the same (alerts/README.md, the clock)

Each archive message is read in its partition's order. Each of its points
feeds the rules that select it (measurement, field, `where`), each rule's
series by the point's `group_by` tags (alerts/lifecycle.py `observe`). The
worker's own `alerts` points are skipped. After the message, its partition's
clock is the latest point time seen in the partition, and every series of the
partition whose next deadline the clock passed is brought up to it
(`advance`): a series silent for `no_data.after` goes no-data even when the
clock is moved by other engines' points.

A transition is a JSON message (schema: alerts/schemas/alert-v1.schema.json)
keyed by the alert's fingerprint, for the alerts topic; each also becomes an
`alerts` point, in archive messages keyed by engine, like the agents' (one per
engine and batch). The states come back as table values by key, with the
archive partition whose changelog they belong to; they may be kept only once
the messages are on the broker (alerts/state.py).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from alerts.labels import alert_labels, fingerprint
from alerts.lifecycle import Series, Step, Transition, advance, next_deadline, observe, retire
from alerts.model import ALERTS_MEASUREMENT, Rule
from alerts.ruleset import Feed, Rules
from alerts.state import Clock, Index, SeriesRecord, clock_key, index_key, series_key
from enginewatch.core.points import (
    ArchiveFormatError,
    FieldValue,
    Origin,
    Point,
    decode_archive,
    encode_archive,
)

ALERT_VERSION = 1
# The series one archive partition may hold: the partition's index stays one
# modest table value (about 40 bytes a series). A point that would make one
# more is not evaluated, and counted.
MAX_SERIES_PER_PARTITION = 10_000

Message = tuple[bytes, bytes]  # key, value

# The workers' own measurements (enginewatch/core/selfmetrics.py): stamped with
# the wall clock, so they feed rules but move no partition's event-time clock.
SELF_PREFIX = "enginewatch_"


@dataclass(frozen=True, slots=True)
class ArchiveInput:
    """One archive message and where it was read."""

    origin: Origin
    value: bytes | None


@dataclass(slots=True)
class Counts:
    messages: int = 0
    points: int = 0
    redelivered: int = 0  # (series, message) pairs skipped: applied before
    late: int = 0  # points older than what their series was evaluated to
    malformed: int = 0  # archive messages that are not the archive format
    overflow: int = 0  # points for a new series in a full partition


@dataclass(frozen=True, slots=True)
class AlertsOutput:
    """A batch's transitions (for the alerts topic) and alerts points (archive
    messages for the archive topic), and the table values to keep once both
    are delivered: key -> (archive partition, value; None: delete the key)."""

    transitions: list[Message]
    points: list[Message]
    states: dict[str, tuple[int, dict[str, Any] | None]]
    counts: Counts = field(default_factory=Counts)


def evaluate(
    batch: Iterable[ArchiveInput], rules: Rules, states: Mapping[str, Any], wall: float
) -> AlertsOutput:
    """Every archive message of the batch through the rules, in order; `wall`
    is the wall time (Unix s) of the batch, kept as the partitions' last sign
    of life for the idle clock."""
    work = _Work(rules, states)
    for record in batch:
        work.message(record, wall)
    return work.output()


def tick(
    topic: str,
    partitions: Iterable[int],
    rules: Rules,
    states: Mapping[str, Any],
    wall: float,
    idle: float,
) -> AlertsOutput:
    """The archive partitions of `topic` that had no message for `idle` seconds
    of wall clock, at wall time `wall`: their clock follows the wall clock from
    their last message (the clock's time plus the wall time since), and the
    series whose deadlines it passed are brought up to it. Nothing is kept of
    the advance itself: the next message, or tick, starts again from the clock."""
    work = _Work(rules, states)
    for partition in partitions:
        clock = work.clock(topic, partition)
        if clock.time is None or clock.wall is None or wall - clock.wall < idle:
            continue
        work.sweep(topic, partition, clock.time + int((wall - clock.wall) * 1e9), None)
    return work.output()


class _Work:
    """One call's reads and writes: the table is read once per key, and the
    values to keep are gathered by key."""

    def __init__(self, rules: Rules, states: Mapping[str, Any]) -> None:
        self.rules = rules
        self.states = states
        self.series: dict[str, SeriesRecord | None] = {}
        self.clocks: dict[tuple[str, int], Clock] = {}
        self.indexes: dict[tuple[str, int], Index] = {}
        self.writes: dict[str, tuple[int, dict[str, Any] | None]] = {}
        # Per partition, its index's entries as a heap, built when first needed:
        # what is due comes off its top, without a look at every series.
        self.heaps: dict[tuple[str, int], list[tuple[int, str]]] = {}
        # Series and indexes changed, by key: made table values once, at the end.
        self.changed_series: dict[str, int] = {}
        self.changed_indexes: dict[tuple[str, int], None] = {}
        self.transitions: list[Message] = []
        self.points: dict[str, tuple[Origin | None, list[Point]]] = {}
        self.counts = Counts()
        self.fingerprints: dict[tuple[str, tuple[str, ...]], str] = {}

    # Reading and writing state.

    def clock(self, topic: str, partition: int) -> Clock:
        key = (topic, partition)
        if key not in self.clocks:
            self.clocks[key] = Clock.from_table(self.states.get(clock_key(topic, partition)))
        return self.clocks[key]

    def index(self, topic: str, partition: int) -> Index:
        key = (topic, partition)
        if key not in self.indexes:
            self.indexes[key] = Index.from_table(self.states.get(index_key(topic, partition)))
        return self.indexes[key]

    def set_deadline(
        self, topic: str, partition: int, fp: str, entry: tuple[int, str] | None
    ) -> None:
        """Change one entry of the partition's index (None: remove it). The
        index read from the table is this call's own copy: changed in place."""
        key = (topic, partition)
        deadlines = self.index(topic, partition).deadlines
        if entry is None:
            deadlines.pop(fp, None)
        else:
            deadlines[fp] = entry
            if key in self.heaps:
                heapq.heappush(self.heaps[key], (entry[0], fp))
        self.changed_indexes[key] = None

    def heap(self, topic: str, partition: int) -> list[tuple[int, str]]:
        key = (topic, partition)
        if key not in self.heaps:
            heap = [(at, fp) for fp, (at, _) in self.index(topic, partition).deadlines.items()]
            heapq.heapify(heap)
            self.heaps[key] = heap
        return self.heaps[key]

    def record(self, fp: str) -> SeriesRecord | None:
        if fp not in self.series:
            self.series[fp] = SeriesRecord.from_table(self.states.get(series_key(fp)))
        return self.series[fp]

    def keep(self, fp: str, partition: int, record: SeriesRecord | None) -> None:
        self.series[fp] = record
        self.changed_series[fp] = partition

    # Evaluating.

    def message(self, record: ArchiveInput, wall: float) -> None:
        origin = record.origin
        topic, partition = origin.topic, origin.partition
        self.counts.messages += 1
        try:
            points = decode_archive(record.value or b"")
        except ArchiveFormatError:
            self.counts.malformed += 1
            return
        latest = self.clock(topic, partition).time
        decided: dict[str, bool] = {}  # fingerprint -> whether this message was applied before
        foreign = False
        for point in points:
            if point.measurement == ALERTS_MEASUREMENT:
                continue
            self.counts.points += 1
            for feed in self.rules.feeds(point.measurement):
                self._feed(feed, point, origin, decided)
            if point.measurement.startswith(SELF_PREFIX):
                continue  # the workers' reports on themselves carry the wall clock
            foreign = True
            latest = point.time if latest is None else max(latest, point.time)
        if not foreign:
            # Only the workers' own points: no sign of the engines' life, or the
            # points of a tick would keep their partition from ever being idle.
            return
        self._retire_orphans(topic, partition)
        clock = Clock(latest, wall)
        self.clocks[(topic, partition)] = clock
        self.writes[clock_key(topic, partition)] = (partition, clock.to_table())
        if latest is not None:
            self.sweep(topic, partition, latest, origin)

    def _feed(self, feed: Feed, point: Point, origin: Origin, decided: dict[str, bool]) -> None:
        value = _value_for(feed, point)
        if value is None:
            return
        rule = feed.rule
        tags = tuple(point.tags.get(name) for name in rule.group_by)
        if any(tag is None for tag in tags):
            return  # a point without the rule's group_by tags is not the rule's
        fp = self._fingerprint(rule, tuple(str(t) for t in tags))
        held = self.record(fp)
        if fp not in decided:
            decided[fp] = held is not None and held.has_applied(origin)
        if decided[fp]:
            self.counts.redelivered += 1
            return
        topic, partition = origin.topic, origin.partition
        index = self.index(topic, partition)
        if held is None:
            if len(index.deadlines) >= MAX_SERIES_PER_PARTITION:
                self.counts.overflow += 1
                return
            group = dict(zip(rule.group_by, map(str, tags), strict=True))
            held = SeriesRecord(rule.name, group, alert_labels(rule, group))
        step = observe(rule, held.series, feed.role, point.time, value)
        if step.late:
            self.counts.late += 1
        assert step.series is not None
        self._emit(rule, fp, held, step, origin)
        self.keep(fp, partition, held.after(origin, step.series))
        self._schedule(topic, partition, fp, rule, step.series)

    def sweep(self, topic: str, partition: int, until: int, origin: Origin | None) -> None:
        """Bring every series of the partition whose deadline `until` passed up
        to it, earliest first (ties by fingerprint: the order is the data's)."""
        deadlines = self.index(topic, partition).deadlines
        heap = self.heap(topic, partition)
        while heap and heap[0][0] < until:
            at, fp = heapq.heappop(heap)
            entry = deadlines.get(fp)
            if entry is None or entry[0] != at:
                continue  # moved or removed since it was pushed
            identity = entry[1]
            held = self.record(fp)
            rule = None if held is None else self.rules.by_name.get(held.rule)
            if held is None:
                self.set_deadline(topic, partition, fp, None)
                continue
            if rule is None or self.rules.identities.get(rule.name) != identity:
                step = retire(held.series, max(until, held.series.now or until))
            else:
                step = advance(rule, held.series, until)
            self._emit(rule, fp, held, step, origin)
            if step.series is None:
                self.keep(fp, partition, None)
                self.set_deadline(topic, partition, fp, None)
            else:
                assert rule is not None
                self.keep(fp, partition, held.after(None, step.series))
                self._schedule(topic, partition, fp, rule, step.series, exact=True)

    def _retire_orphans(self, topic: str, partition: int) -> None:
        """Once per rules file and partition: the series of rules no longer in it
        (or whose identity changed) are due now, so the sweep retires them."""
        index = self.index(topic, partition)
        if index.rules == self.rules.digest:
            return
        known = set(self.rules.identities.values())
        deadlines = {
            fp: (at if identity in known else -(2**63), identity)
            for fp, (at, identity) in index.deadlines.items()
        }
        self.indexes[(topic, partition)] = Index(self.rules.digest, deadlines)
        self.changed_indexes[(topic, partition)] = None
        self.heaps.pop((topic, partition), None)

    def _schedule(
        self, topic: str, partition: int, fp: str, rule: Rule, series: Series, exact: bool = False
    ) -> None:
        """Keep the series' next deadline in its partition's index: an entry may
        be earlier than the deadline (it is then looked at, and moved, once the
        clock passes it), never later. So the index changes only when a series
        appears or its deadline comes nearer, not with each point."""
        deadline = next_deadline(rule, series)
        identity = self.rules.identities[rule.name]
        entry = self.index(topic, partition).deadlines.get(fp)
        if deadline is None:
            if entry is not None:
                self.set_deadline(topic, partition, fp, None)
            return
        at = deadline[0]
        if (
            entry is not None
            and entry[1] == identity
            and (entry[0] == at or (entry[0] < at and not exact))
        ):
            return
        self.set_deadline(topic, partition, fp, (at, identity))

    # Output.

    def _fingerprint(self, rule: Rule, tags: tuple[str, ...]) -> str:
        key = (rule.name, tags)
        if key not in self.fingerprints:
            labels = alert_labels(rule, dict(zip(rule.group_by, tags, strict=True)))
            self.fingerprints[key] = fingerprint(labels)
        return self.fingerprints[key]

    def _emit(
        self, rule: Rule | None, fp: str, held: SeriesRecord, step: Step, origin: Origin | None
    ) -> None:
        if not step.transitions:
            return
        labels = held.labels
        engine = held.tags.get("engine", "")
        for transition in step.transitions:
            self.transitions.append(
                (fp.encode(), transition_message(rule, fp, labels, held.tags, transition, origin))
            )
            entry = self.points.setdefault(engine, (origin, []))
            entry[1].append(alert_point(labels, held.tags, transition))

    def output(self) -> AlertsOutput:
        for fp, partition in self.changed_series.items():
            record = self.series[fp]
            self.writes[series_key(fp)] = (partition, None if record is None else record.to_table())
        for topic, partition in self.changed_indexes:
            index = self.indexes[(topic, partition)]
            self.writes[index_key(topic, partition)] = (partition, index.to_table())
        messages = [
            (engine.encode(), encode_archive(points, origin))
            for engine, (origin, points) in self.points.items()
        ]
        return AlertsOutput(self.transitions, messages, self.writes, self.counts)


def _value_for(feed: Feed, point: Point) -> FieldValue | None:
    """The value the point gives the feed, or None when it gives none."""
    if not feed.matches_tags(point.tags):
        return None
    if feed.field is None:
        return 0.0  # a rule on silence: any point of the measurement is a sign of life
    value = point.fields.get(feed.field)
    if value is None or (feed.numeric and isinstance(value, str)):
        return None
    return value


def _number(value: FieldValue | None) -> float | None:
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None


def transition_message(
    rule: Rule | None,
    fp: str,
    labels: Mapping[str, str],
    tags: Mapping[str, str],
    transition: Transition,
    origin: Origin | None,
) -> bytes:
    """One transition as the alerts topic carries it (alert-v1.schema.json)."""
    value = transition.value
    if not isinstance(value, str):
        value = _number(value)
    annotations = {}
    if rule is not None:
        names = {**labels, "value": _shown(value), "state": transition.state}
        annotations = {key: rule.render(text, names) for key, text in rule.annotations.items()}
    message: dict[str, Any] = {
        "version": ALERT_VERSION,
        "fingerprint": fp,
        "alertname": labels["alertname"],
        "severity": labels.get("severity"),
        "state": transition.state,
        "previous": transition.previous,
        "firing": transition.firing,
        "time": transition.time,
        "fired_at": transition.fired_at,
        "sequence": transition.sequence,
        "value": value,
        "tags": dict(tags),
        "labels": dict(labels),
        "annotations": annotations,
        "origin": None
        if origin is None
        else {"topic": origin.topic, "partition": origin.partition, "offset": origin.offset},
    }
    return orjson.dumps(message)


def _shown(value: FieldValue | None) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, str):
        return value
    return format(value, ".6g")


def alert_point(
    labels: Mapping[str, str], tags: Mapping[str, str], transition: Transition
) -> Point:
    """A transition as an `alerts` point on the archive topic."""
    fields: dict[str, FieldValue] = {"state": transition.state, "firing": int(transition.firing)}
    if (number := _number(transition.value)) is not None:
        fields["value"] = number
    point_tags = {**tags, "alertname": labels["alertname"]}
    if "severity" in labels:
        point_tags["severity"] = labels["severity"]
    return Point(ALERTS_MEASUREMENT, point_tags, fields, transition.time)
