"""The monitors' two stages, pure.

    intake:   model records (any partition of the monitored topics) -> observations
              on the monitors' topic, keyed by monitor; dead letters
    evaluate: observations (all of one monitor in one partition, in order) + the
              table (read only) -> points for the archive topic + the states to keep

The intake is stateless: it reads each record as its monitors see it
(monitors/records.py) and sends, per monitor and batch, one message holding
the observations in order. The hop puts every record of a monitor, whichever
partition of whichever topic it came from, into one partition: a window's
profile, its drift and the join see all of them.

The evaluation keeps one clock per profiled stream and one for the join
(monitors/state.py). Each observation moves its clock (the latest event time
seen) and, after it, every window that ended `lateness` (plus the label delay,
for the join) before the clock is closed: its points go out, its pane is
dropped. Closing after every observation, not every batch, makes the points a
function of the records' order alone, whatever the batches were.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from enginewatch.core.configfile import format_duration
from enginewatch.core.deadletters import dead_letter
from enginewatch.core.points import FieldValue, Origin, Point, encode_archive, tag_value_problem
from monitors import drift
from monitors.config import FirstRecords, Monitor, Monitors
from monitors.profile import CategoricalProfile, NumericProfile, Profile, add, new_profile
from monitors.quality import QualitySums
from monitors.records import Reader, read
from monitors.state import (
    MAX_PENDING,
    Lane,
    MonitorState,
    StreamPane,
    Waiting,
    fresh_profiles,
    state_key,
)

STAGE = "monitors"
Message = tuple[bytes, bytes]
# Observations per message on the monitors' topic (about 150 bytes each): far below 1 MB.
MAX_OBSERVATIONS = 2000
# Points per archive message: far below the agents' 900 000-byte bound.
MAX_POINTS = 2000
# The `field` tag of a stream's own points (records, late, the drift share).
ALL_FIELDS = "*"
# Reference profiles read from files, by (monitor, stream).
References = Mapping[tuple[str, str], Mapping[str, Profile]]


@dataclass(frozen=True, slots=True)
class RecordInput:
    """A record of a monitored topic: where it was read, its Kafka timestamp (ns), its value."""

    origin: Origin
    timestamp: int
    value: bytes | None


@dataclass(slots=True)
class IntakeOutput:
    observations: list[Message] = field(default_factory=list)
    dead_letters: list[bytes] = field(default_factory=list)
    dead_letter_reasons: list[str] = field(default_factory=list)
    records: int = 0


def intake(batch: Iterable[RecordInput], readers: Mapping[str, list[Reader]]) -> IntakeOutput:
    """Every record of the batch read by each monitor of its topic, in order."""
    output = IntakeOutput()
    by_monitor: dict[str, list[dict[str, Any]]] = {}
    for record in batch:
        output.records += 1
        o = record.origin
        reading = read(
            readers.get(o.topic, ()),
            (o.topic, o.partition, o.offset),
            record.timestamp,
            record.value,
        )
        for monitor, observation in reading.observations:
            by_monitor.setdefault(monitor, []).append(observation)
        if reading.problems:
            reason = "; ".join(reading.problems)
            output.dead_letters.append(dead_letter(reason, o, record.value, STAGE))
            output.dead_letter_reasons.append(reason)
    for monitor, observations in by_monitor.items():
        for start in range(0, len(observations), MAX_OBSERVATIONS):
            chunk = observations[start : start + MAX_OBSERVATIONS]
            output.observations.append((monitor.encode(), orjson.dumps(chunk)))
    return output


@dataclass(frozen=True, slots=True)
class ObservationInput:
    """A message of the monitors' topic and where it was read."""

    origin: Origin
    value: bytes | None


@dataclass(slots=True)
class Counts:
    messages: int = 0
    observations: int = 0
    redelivered: int = 0  # observations at or below their monitor's applied offset
    late: int = 0
    malformed: int = 0  # messages of the monitors' topic that are not observations
    unknown: int = 0  # observations of a monitor the file no longer has
    closed: int = 0  # windows closed
    given_up: int = 0  # waiting join records dropped for MAX_PENDING


@dataclass(slots=True)
class MonitorsOutput:
    """The archive messages (keyed by monitor), and the table values to keep once
    they are delivered: key -> (partition of the monitors' topic, value)."""

    points: list[Message] = field(default_factory=list)
    states: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)
    counts: Counts = field(default_factory=Counts)


def evaluate(
    batch: Iterable[ObservationInput],
    monitors: Monitors,
    states: Mapping[str, Any],
    references: References | None = None,
) -> MonitorsOutput:
    """Every observation of the batch, in order, through its monitor."""
    output = MonitorsOutput()
    work: dict[str, _MonitorWork] = {}
    for message in batch:
        output.counts.messages += 1
        observations = _observations(message.value)
        if observations is None:
            output.counts.malformed += 1
            continue
        for observation in observations:
            name = observation.get("m")
            monitor = monitors.by_name.get(name) if isinstance(name, str) else None
            if monitor is None:
                output.counts.unknown += 1
                continue
            assert isinstance(name, str)
            if name not in work:
                state = MonitorState.from_table(monitor, states.get(state_key(name)))
                work[name] = _MonitorWork(monitor, state, references or {}, output.counts)
            work[name].observe(observation, message.origin)
    for name, w in work.items():
        if not w.touched:
            continue
        value = w.state.to_table(w.monitor)
        if w.closed_at is not None:
            w.report_state(value)
        output.states[state_key(name)] = (w.partition, value)
        for start in range(0, len(w.points), MAX_POINTS):
            chunk = w.points[start : start + MAX_POINTS]
            output.points.append((name.encode(), encode_archive(chunk, w.origins[start])))
    return output


def _observations(value: bytes | None) -> list[dict[str, Any]] | None:
    if value is None:
        return None
    try:
        decoded = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(decoded, list) or not all(isinstance(o, dict) for o in decoded):
        return None
    return decoded


def window_start(time: int, window: int) -> int:
    return time // window * window


class _MonitorWork:
    """One monitor's state through one batch, and the points it gave."""

    def __init__(
        self, monitor: Monitor, state: MonitorState, references: References, counts: Counts
    ) -> None:
        self.monitor = monitor
        self.state = state
        self.references = references
        self.counts = counts
        self.points: list[Point] = []
        self.origins: list[Origin] = []  # the model record behind each point
        self.partition = 0
        self.touched = False
        self.closed_at: int | None = None
        self.origin: Origin | None = None
        self.window_tag = format_duration(monitor.window)
        self.streams = {s.stream: s for s in monitor.streams}

    # -- observations ------------------------------------------------------------

    def observe(self, observation: dict[str, Any], via: Origin) -> None:
        try:
            kind, stream = str(observation["k"]), str(observation["s"])
            topic, partition, offset = observation["o"]
            time = int(observation["t"])
        except (KeyError, TypeError, ValueError):
            self.counts.unknown += 1
            return
        if kind not in ("s", "p", "t") or (kind == "s" and stream not in self.streams):
            self.counts.unknown += 1
            return
        if kind != "s" and self.monitor.quality is None:
            self.counts.unknown += 1
            return
        self.partition = via.partition
        self.touched = True
        applied = f"{kind}:{stream}:{topic}/{partition}"
        last = self.state.applied.get(applied)
        if last is not None and offset <= last:
            self.counts.redelivered += 1
            return
        self.state.applied[applied] = int(offset)
        self.counts.observations += 1
        self.origin = Origin(str(topic), int(partition), int(offset))
        if kind == "s":
            self._stream(stream, observation, time)
        else:
            self._join(kind, observation, time)

    def _stream(self, stream: str, observation: dict[str, Any], time: int) -> None:
        spec = self.streams[stream]
        kinds = {n: f.type for n, f in spec.fields.items()}
        lane = self.state.lanes.setdefault(stream, Lane())
        window = self.monitor.window
        start = window_start(time, window)
        unreadable = bool(observation.get("z"))
        if not unreadable:
            lane.watermark = time if lane.watermark is None else max(lane.watermark, time)
        if unreadable and lane.watermark is not None:
            # No time of its own: counted in the window of the stream's clock.
            start = window_start(lane.watermark, window)
        elif lane.next is not None and start < lane.next:
            lane.late += 1
            self.counts.late += 1
            self._advance_stream(stream, lane)
            return
        pane = lane.panes.get(start)
        if pane is None:
            pane = lane.panes[start] = StreamPane(0, fresh_profiles(kinds))
        pane.records += 1
        values = observation.get("v") or {}
        first = self._first_records()
        for name, value in values.items():
            profile = pane.fields.get(name)
            if profile is None or not add(profile, value):
                continue
            if first is not None:
                self._build_reference(lane, kinds, name, value, first)
        for name in observation.get("miss") or ():
            if name in pane.fields:
                pane.fields[name].missing += 1
        for name in observation.get("bad") or ():
            if name in pane.fields:
                pane.fields[name].invalid += 1
        if not unreadable:
            self._advance_stream(stream, lane)

    def _first_records(self) -> int | None:
        d = self.monitor.drift
        return (
            d.reference.first if d is not None and isinstance(d.reference, FirstRecords) else None
        )

    def _build_reference(
        self, lane: Lane, kinds: Mapping[str, str], name: str, value: float | str, first: int
    ) -> None:
        if lane.reference is None:
            lane.reference = {}
        ref = lane.reference.get(name)
        if ref is None:
            ref = lane.reference[name] = new_profile(kinds[name])
        if ref.n < first:
            add(ref, value)

    def _advance_stream(self, stream: str, lane: Lane) -> None:
        boundary = self._boundary(lane, self.monitor.lateness)
        if boundary is None:
            return
        for start in sorted(s for s in lane.panes if s < boundary):
            self._close_stream(stream, lane, start, lane.panes.pop(start))
        lane.next = boundary

    def _boundary(self, lane: Lane, grace: int) -> int | None:
        """The start of the first window still open, when it moved forward."""
        if lane.watermark is None:
            return None
        boundary = window_start(lane.watermark - grace, self.monitor.window)
        if lane.next is not None and boundary <= lane.next:
            return None
        return boundary

    # -- the join ----------------------------------------------------------------

    def _join(self, kind: str, observation: dict[str, Any], time: int) -> None:
        quality = self.monitor.quality
        assert quality is not None
        lane = self.state.quality
        start = window_start(time, self.monitor.window)
        if observation.get("bad"):
            if observation.get("z") and lane.watermark is not None:
                start = window_start(lane.watermark, self.monitor.window)
            elif not observation.get("z"):
                lane.watermark = time if lane.watermark is None else max(lane.watermark, time)
            if lane.next is not None and start < lane.next:
                start = lane.next
            self._quality_pane(lane, start).invalid += 1
            self._advance_quality(lane)
            return
        lane.watermark = time if lane.watermark is None else max(lane.watermark, time)
        value = observation.get("x")
        if not isinstance(value, float | str):
            self.counts.unknown += 1
            return
        late = lane.next is not None and start < lane.next
        record_id = observation.get("id")
        if quality.pairing == "id" and isinstance(record_id, str):
            other = lane.pending.get(record_id)
            if other is not None and other.kind != kind:
                del lane.pending[record_id]
                self._pair(lane, kind, value, time, other)
            elif late:
                lane.late += 1
                self.counts.late += 1
            else:
                if other is not None:  # the same id again on one side: the first gives up
                    self._give_up(lane, other)
                lane.pending[record_id] = Waiting(kind, value, time)
        else:
            queue = lane.queues["t" if kind == "p" else "p"]
            if queue:
                self._pair(lane, kind, value, time, queue.pop(0))
            elif late:
                lane.late += 1
                self.counts.late += 1
            else:
                lane.queues[kind].append(Waiting(kind, value, time))
        while lane.waiting() > MAX_PENDING:
            self._give_up_oldest(lane)
        self._advance_quality(lane)

    def _pair(self, lane: Lane, kind: str, value: float | str, time: int, other: Waiting) -> None:
        """A prediction meets its truth: counted in the prediction's window,
        unless the truth came later than the label delay allows."""
        quality = self.monitor.quality
        assert quality is not None
        if kind == "p":
            prediction, p_time, truth_value, t_time = value, time, other.value, other.time
        else:
            prediction, p_time, truth_value, t_time = other.value, other.time, value, time
        if abs(t_time - p_time) > quality.label_delay:
            self._give_up(lane, Waiting("p", prediction, p_time))
            self._give_up(lane, Waiting("t", truth_value, t_time))
            return
        pane = self._quality_pane(lane, window_start(p_time, self.monitor.window))
        pane.pair(prediction, truth_value, t_time - p_time, quality.near_zero, quality.threshold)

    def _give_up(self, lane: Lane, waiting: Waiting) -> None:
        """A record that met no other side: counted in its window (or the first open one)."""
        start = window_start(waiting.time, self.monitor.window)
        if lane.next is not None and start < lane.next:
            start = lane.next
        pane = self._quality_pane(lane, start)
        if waiting.kind == "p":
            pane.unmatched += 1
        else:
            pane.orphans += 1

    def _give_up_oldest(self, lane: Lane) -> None:
        self.counts.given_up += 1
        candidates: list[tuple[int, int, str]] = [
            (w.time, 0, key) for key, w in lane.pending.items()
        ]
        candidates += [(q[0].time, 1, kind) for kind, q in lane.queues.items() if q]
        _, source, key = min(candidates)
        waiting = lane.pending.pop(key) if source == 0 else lane.queues[key].pop(0)
        self._give_up(lane, waiting)

    def _quality_pane(self, lane: Lane, start: int) -> QualitySums:
        pane = lane.panes.get(start)
        if pane is None:
            pane = lane.panes[start] = QualitySums()
        assert isinstance(pane, QualitySums)
        return pane

    def _advance_quality(self, lane: Lane) -> None:
        quality = self.monitor.quality
        assert quality is not None
        boundary = self._boundary(lane, self.monitor.lateness + quality.label_delay)
        if boundary is None:
            return
        assert lane.watermark is not None
        # Records that waited longer than the label delay give up first, in their
        # windows, which are all still open.
        expired = lane.watermark - quality.label_delay
        for key in [k for k, w in lane.pending.items() if w.time <= expired]:
            self._give_up(lane, lane.pending.pop(key))
        for queue in lane.queues.values():
            while queue and queue[0].time <= expired:
                self._give_up(lane, queue.pop(0))
        for start in sorted(s for s in lane.panes if s < boundary):
            pane = lane.panes.pop(start)
            assert isinstance(pane, QualitySums)
            self._close_quality(lane, start, pane)
        lane.next = boundary

    # -- points ------------------------------------------------------------------

    def _tags(self, stream: str, field_name: str) -> dict[str, str]:
        return {
            "model": self.monitor.model,
            "monitor": self.monitor.name,
            "stream": stream,
            "field": field_name,
            "window": self.window_tag,
        }

    def _emit(
        self, measurement: str, tags: dict[str, str], fields: dict[str, FieldValue], time: int
    ) -> None:
        assert self.origin is not None
        # Line protocol carries no NaN or infinity: a figure without a value is left out.
        kept = {k: v for k, v in fields.items() if not isinstance(v, float) or math.isfinite(v)}
        self.points.append(Point(measurement, tags, kept, time))
        self.origins.append(self.origin)

    def _closed(self, start: int) -> None:
        self.counts.closed += 1
        self.closed_at = start if self.closed_at is None else max(self.closed_at, start)

    def _close_stream(self, stream: str, lane: Lane, start: int, pane: StreamPane) -> None:
        self._closed(start)
        spec = self.streams[stream]
        reference = self._reference(stream, lane)
        self._emit(
            "data_profile",
            self._tags(stream, ALL_FIELDS),
            {"records": pane.records, "late": lane.late},
            start,
        )
        lane.late = 0
        drifts: list[bool] = []
        drift_spec = self.monitor.drift
        for name, profile in pane.fields.items():
            tags = self._tags(stream, name)
            self._emit("data_profile", tags, profile.summary(), start)
            ref = reference.get(name) if reference is not None else None
            if isinstance(profile, NumericProfile):
                edges = list(spec.fields[name].buckets or ())
                if not edges and isinstance(ref, NumericProfile) and ref.n:
                    edges = drift.decile_edges(ref, drift_spec.buckets if drift_spec else 10)
                buckets = profile.histogram(edges or None)
            else:
                buckets = profile.top()
            for bucket, count in buckets:
                if tag_value_problem(bucket):
                    continue  # a category line protocol cannot carry as a tag
                share = count / profile.n if profile.n else 0.0
                self._emit(
                    "data_histogram",
                    {**tags, "bucket": bucket},
                    {"count": count, "share": share},
                    start,
                )
            if drift_spec is None or ref is None:
                continue
            result: drift.FieldDrift | None = None
            if isinstance(profile, NumericProfile) and isinstance(ref, NumericProfile):
                result = drift.numeric(ref, profile, drift_spec)
            elif isinstance(profile, CategoricalProfile) and isinstance(ref, CategoricalProfile):
                result = drift.categorical(ref, profile, drift_spec)
            if result is not None:
                self._emit("data_drift", tags, result.fields, start)
                drifts.append(result.drifted)
        if drift_spec is not None and drifts:
            share = sum(drifts) / len(drifts)
            self._emit(
                "data_drift",
                self._tags(stream, ALL_FIELDS),
                {
                    "drift_share": share,
                    "drifted_fields": sum(drifts),
                    "fields": len(drifts),
                    "drifted": int(share >= drift_spec.share),
                    "threshold": drift_spec.share,
                },
                start,
            )
        self._next_reference(lane, pane)

    def _reference(self, stream: str, lane: Lane) -> Mapping[str, Profile] | None:
        d = self.monitor.drift
        if d is None:
            return None
        if not isinstance(d.reference, str) and not isinstance(d.reference, FirstRecords):
            return self.references.get((self.monitor.name, stream))
        if isinstance(d.reference, FirstRecords):
            ref = lane.reference or {}
            # A field's reference is ready once it holds its first N values.
            return {n: p for n, p in ref.items() if p.n >= d.reference.first}
        return lane.reference

    def _next_reference(self, lane: Lane, pane: StreamPane) -> None:
        d = self.monitor.drift
        if d is None:
            return
        filled = {n: p for n, p in pane.fields.items() if p.n}
        if d.reference == "previous":
            lane.reference = {**(lane.reference or {}), **filled}
        elif d.reference == "first-window" and lane.reference is None and filled:
            lane.reference = filled

    def _close_quality(self, lane: Lane, start: int, pane: QualitySums) -> None:
        quality = self.monitor.quality
        assert quality is not None
        self._closed(start)
        pane.late += lane.late
        lane.late = 0
        stream = quality.prediction.stream
        tags = self._tags(stream, quality.prediction.field or "value")
        self._emit("model_quality", tags, pane.metrics(quality.task, quality.threshold), start)
        if quality.task == "classification":
            for cls, fields in pane.per_class().items():
                if tag_value_problem(cls):
                    continue
                self._emit("model_quality_class", {**tags, "class": cls}, fields, start)

    def report_state(self, value: dict[str, Any]) -> None:
        """The monitor's own state, bounded, as a point at its latest closed window."""
        assert self.closed_at is not None
        waiting = self.state.quality.waiting()
        panes = sum(len(lane.panes) for lane in self.state.lanes.values())
        panes += len(self.state.quality.panes)
        self._emit(
            "monitor_state",
            {"model": self.monitor.model, "monitor": self.monitor.name, "window": self.window_tag},
            {"bytes": len(orjson.dumps(value)), "waiting": waiting, "panes": panes},
            self.closed_at,
        )
