"""What a worker measures of itself, as points like any metric's and as Prometheus figures.

Every ENGINEWATCH_SELF_INTERVAL a worker sends these to the archive topic (so they
are archived and alert rules can fire on them) and serves the same figures on
/metrics (enginewatch/core/observe.py):

- `enginewatch_stage` (tags `worker`, `stage`, `instance`): per stage, over the
  interval: events and events per second, batches, execution seconds, p50 and
  p99 of a batch's seconds, errors, dead letters.
- `enginewatch_dead_letters` (tags `worker`, `stage`, `reason`, `instance`): the
  interval's dead letters by the kind of their reason
  (enginewatch/core/deadletters.py `reason_kind`).
- `enginewatch_lag` (tags `worker`, `topic`, `partition`, `instance`): messages
  between a partition's end and the group's commit.
- `enginewatch_host` (enginewatch/core/host.py): the host's and the process's
  figures, on /metrics as `enginewatch_host_{field}` gauges.
- `enginewatch_sink` (tags `worker`, `sink`, `instance`): points, bytes, requests
  and retries over the interval, points per second, seconds since the last
  success, and the
  archive messages of the batch being written (`pending_messages`).

The points are stamped with the wall clock at the report: they observe the
worker, not a message, so no message time applies. Prometheus gets counters
(cumulative) where the points hold the interval's amounts.
"""

from __future__ import annotations

import math
import time
from collections import Counter as Tally
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from enginewatch.core.deadletters import reason_kind
from enginewatch.core.points import Point

STAGE = "enginewatch_stage"
DEAD_LETTERS = "enginewatch_dead_letters"
LAG = "enginewatch_lag"
SINK = "enginewatch_sink"

# One registry per process: a worker process runs one worker.
REGISTRY = CollectorRegistry()
_STAGE_LABELS = ["worker", "stage"]
_EVENTS = Counter(
    "enginewatch_stage_events", "Events a stage took", _STAGE_LABELS, registry=REGISTRY
)
_BATCH_SECONDS = Histogram(
    "enginewatch_stage_batch_seconds",
    "Seconds a stage spent on one batch",
    _STAGE_LABELS,
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
    registry=REGISTRY,
)
_ERRORS = Counter(
    "enginewatch_stage_errors", "Batches a stage failed", _STAGE_LABELS, registry=REGISTRY
)
_DEAD_LETTERS = Counter(
    "enginewatch_stage_dead_letters",
    "Dead letters a stage sent, by the kind of their reason",
    [*_STAGE_LABELS, "reason"],
    registry=REGISTRY,
)
_LAG = Gauge(
    "enginewatch_lag_messages",
    "Messages between a partition's end and the committed offset",
    ["worker", "topic", "partition"],
    registry=REGISTRY,
)
_SINK_LABELS = ["worker", "sink"]
_SINK_POINTS = Counter(
    "enginewatch_sink_points", "Points a sink wrote", _SINK_LABELS, registry=REGISTRY
)
_SINK_BYTES = Counter(
    "enginewatch_sink_bytes", "Bytes a sink wrote", _SINK_LABELS, registry=REGISTRY
)
_SINK_REQUESTS = Counter(
    "enginewatch_sink_requests", "Requests a sink made", _SINK_LABELS, registry=REGISTRY
)
_SINK_RETRIES = Counter(
    "enginewatch_sink_retries", "Requests a sink made again", _SINK_LABELS, registry=REGISTRY
)
_SINK_SINCE_SUCCESS = Gauge(
    "enginewatch_sink_seconds_since_success",
    "Seconds since the sink last wrote (since the start before its first write)",
    _SINK_LABELS,
    registry=REGISTRY,
)
_SINK_PENDING = Gauge(
    "enginewatch_sink_messages_pending",
    "Archive messages of the batch being written",
    _SINK_LABELS,
    registry=REGISTRY,
)


def quantile(values: Sequence[float], q: float) -> float:
    """The `q` quantile of `values` (nearest rank; values need not be sorted)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


@dataclass(slots=True)
class _Window:
    events: int = 0
    batch_seconds: list[float] = field(default_factory=list)
    errors: int = 0
    dead_letters: Tally[str] = field(default_factory=Tally)


class StageTimes:
    """A worker's stages, measured batch by batch; `points` hands out an interval's."""

    def __init__(self, worker: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.worker, self.clock = worker, clock
        self._windows: dict[str, _Window] = {}
        self._since = clock()

    def record(
        self, stage: str, events: int, seconds: float, dead_letters: Iterable[str] = ()
    ) -> None:
        """A batch of `events` done in `seconds`, with dead letters for the reasons
        `dead_letters` among its outputs."""
        window = self._windows.setdefault(stage, _Window())
        window.events += events
        window.batch_seconds.append(seconds)
        kinds = Tally(reason_kind(reason) for reason in dead_letters)
        window.dead_letters.update(kinds)
        _EVENTS.labels(self.worker, stage).inc(events)
        _BATCH_SECONDS.labels(self.worker, stage).observe(seconds)
        for kind, count in kinds.items():
            _DEAD_LETTERS.labels(self.worker, stage, kind).inc(count)

    def error(self, stage: str) -> None:
        self._windows.setdefault(stage, _Window()).errors += 1
        _ERRORS.labels(self.worker, stage).inc()

    def points(self, instance: str, time_ns: int) -> list[Point]:
        """One point per stage that did anything since the last call, and one per kind
        of its dead letters' reasons; starts a new interval."""
        now = self.clock()
        elapsed, self._since = now - self._since, now
        points = []
        for stage, window in sorted(self._windows.items()):
            fields: dict[str, float | int] = {
                "events": window.events,
                "batches": len(window.batch_seconds),
                "errors": window.errors,
                "dead_letters": window.dead_letters.total(),
            }
            if elapsed > 0:
                fields["events_per_second"] = window.events / elapsed
            if window.batch_seconds:
                fields["seconds"] = float(sum(window.batch_seconds))
                fields["p50_seconds"] = quantile(window.batch_seconds, 0.5)
                fields["p99_seconds"] = quantile(window.batch_seconds, 0.99)
            tags = {"worker": self.worker, "stage": stage, "instance": instance}
            points.append(Point(STAGE, tags, fields, time_ns))
            for kind, count in sorted(window.dead_letters.items()):
                points.append(
                    Point(DEAD_LETTERS, {**tags, "reason": kind}, {"count": count}, time_ns)
                )
        self._windows.clear()
        return points


def lag_points(
    worker: str, lags: Mapping[tuple[str, int], int], instance: str, time_ns: int
) -> list[Point]:
    """One point per partition the worker reads: its lag in messages."""
    points = []
    for (topic, partition), lag in sorted(lags.items()):
        _LAG.labels(worker, topic, str(partition)).set(lag)
        tags = {"worker": worker, "topic": topic, "partition": str(partition), "instance": instance}
        points.append(Point(LAG, tags, {"lag": lag}, time_ns))
    return points


class SinkStats:
    """What a sink did, kept by the code that writes to it; /metrics sees it at once,
    the points once per report (`point`, the amounts since the last one).

    `failing_since` (on `clock`) is set by the first failed attempt and cleared by
    a success: how long a sink has been failing, for /readyz.
    """

    def __init__(self, worker: str, sink: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.worker, self.sink, self.clock = worker, sink, clock
        self.points = self.bytes = self.requests = self.retries = 0
        self.started = clock()
        self.last_success: float | None = None
        self.failing_since: float | None = None
        self._pending = 0
        self._reported = (0, 0, 0, 0)
        self._reported_at = self.started
        labels = (worker, sink)
        self._points = _SINK_POINTS.labels(*labels)
        self._bytes = _SINK_BYTES.labels(*labels)
        self._requests = _SINK_REQUESTS.labels(*labels)
        self._retries = _SINK_RETRIES.labels(*labels)
        self._pending_gauge = _SINK_PENDING.labels(*labels)
        _SINK_SINCE_SUCCESS.labels(*labels).set_function(
            lambda: self.seconds_since_success(self.clock())
        )

    def request(self) -> None:
        self.requests += 1
        self._requests.inc()

    def retry(self) -> None:
        """A request failed and will be made again."""
        self.retries += 1
        self._retries.inc()
        if self.failing_since is None:
            self.failing_since = self.clock()

    def wrote(self, points: int, size: int) -> None:
        self.points += points
        self.bytes += size
        self._points.inc(points)
        self._bytes.inc(size)
        self.last_success = self.clock()
        self.failing_since = None

    @property
    def pending(self) -> int:
        """Archive messages of the batch being written."""
        return self._pending

    @pending.setter
    def pending(self, messages: int) -> None:
        self._pending = messages
        self._pending_gauge.set(messages)

    def seconds_since_success(self, now: float) -> float:
        """Since the last write, or since the start before the first."""
        return now - (self.last_success if self.last_success is not None else self.started)

    def failing_for(self, now: float) -> float:
        """Seconds the sink has been failing without a success; 0 when it is not."""
        return 0.0 if self.failing_since is None else now - self.failing_since

    def point(self, instance: str, time_ns: int, now: float) -> Point:
        """The amounts since the last call, and the sink's state now."""
        totals = (self.points, self.bytes, self.requests, self.retries)
        points, size, requests, retries = (
            t - r for t, r in zip(totals, self._reported, strict=True)
        )
        self._reported = totals
        elapsed, self._reported_at = now - self._reported_at, now
        fields: dict[str, float | int] = {
            "points": points,
            "bytes": size,
            "requests": requests,
            "retries": retries,
            "seconds_since_success": self.seconds_since_success(now),
            "pending_messages": self._pending,
        }
        if elapsed > 0:
            fields["points_per_second"] = points / elapsed
        tags = {"worker": self.worker, "sink": self.sink, "instance": instance}
        return Point(SINK, tags, fields, time_ns)


_HOST_GAUGES: dict[str, Gauge] = {}


def expose_host(point: Point) -> None:
    """Set /metrics' host gauges (`enginewatch_host_{field}`) from a host sample."""
    for name, value in point.fields.items():
        if not isinstance(value, int | float):
            continue
        gauge = _HOST_GAUGES.get(name)
        if gauge is None:
            gauge = _HOST_GAUGES[name] = Gauge(
                f"enginewatch_host_{name}", f"The host's {name}, as last sampled", registry=REGISTRY
            )
        gauge.set(value)


def readiness(
    assigned: int, rebalancing: bool, sink_failing_for: float, within: float
) -> str | None:
    """Why a worker is not ready, or None when it is: it reads no partition, is
    rebalancing, or its sink has failed for `within` seconds without a success."""
    if rebalancing:
        return "rebalancing"
    if assigned == 0:
        return "no partition assigned"
    if sink_failing_for >= within:
        return f"the sink has failed for {sink_failing_for:.0f}s without a success"
    return None
