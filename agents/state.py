"""What the agents remember per engine: carried amounts and the inputs already applied.

A report without a usable `delta_time` carries its amount forward to the next
report's rate, so an input that is applied twice (redelivered after a crash,
a rebalance or a duplicate on the by-engine hop) would count twice. Each
engine's state therefore holds, beside its carried amounts, the offset of the
last input applied from each input partition, and the derive stage skips an
input at or below it. The state is written only after the points it stands
for are on the broker, so a redelivered input either finds its effect
recorded (skipped: its points are out) or not (derived again from the same
state: the same points).

Kept in the Faust table `carried-amounts` as JSON:
`{"carried": {tap: amount}, "applied": {"topic/partition": offset}, "seen":
event time of the latest input (ns), "partition": the table partition}`. A
value of the earlier shape, the carried amounts alone, reads as carried
amounts with nothing applied.

An engine silent for ENGINEWATCH_STATE_TTL of event time (engines get new
UUIDs when redeployed, so old ones fall silent for good) loses its state:
`expired` names those of a partition, and the agents delete them, which
writes a tombstone to the changelog.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from enginewatch.core.points import Origin


def _partition(origin: Origin) -> str:
    return f"{origin.topic}/{origin.partition}"


@dataclass(frozen=True, slots=True)
class CarryState:
    carried: Mapping[str, float] = field(default_factory=dict)
    applied: Mapping[str, int] = field(default_factory=dict)
    seen: int = 0  # the event time (ns) of the latest input applied

    def has_applied(self, origin: Origin) -> bool:
        """Whether the input at `origin` (or a later one of its partition) was applied."""
        last = self.applied.get(_partition(origin))
        return last is not None and origin.offset <= last

    def after(self, origin: Origin, carried: Mapping[str, float] | None, time: int) -> CarryState:
        """The state once the input at `origin`, of event time `time`, is applied
        (`carried`: None if the carried amounts did not change)."""
        return CarryState(
            self.carried if carried is None else carried,
            {**self.applied, _partition(origin): origin.offset},
            max(self.seen, time),
        )

    def to_table(self, partition: int) -> dict[str, Any]:
        """The table value; `partition` is the table partition it is written to, which
        the expiry needs (a key's partition is wherever its engine's records arrive)."""
        return {
            "carried": dict(self.carried),
            "applied": dict(self.applied),
            "seen": self.seen,
            "partition": partition,
        }

    @classmethod
    def from_table(cls, value: Any) -> CarryState:
        """The state a table value holds (nothing yet: an empty state)."""
        if not value:
            return cls()
        if isinstance(value.get("carried"), dict) and isinstance(value.get("applied"), dict):
            return cls(value["carried"], value["applied"], int(value.get("seen", 0)))
        return cls(value)  # the carried amounts alone, as earlier releases kept them


def expired(values: Iterable[tuple[str, Any]], partition: int, before: int) -> list[str]:
    """The engines of a table partition whose latest input is older than `before`
    (event time, ns). A value of the earlier shape says neither partition nor
    time: it stays until its engine's state is written again."""
    return [
        engine
        for engine, value in values
        if isinstance(value, dict)
        and value.get("partition") == partition
        and isinstance(value.get("seen"), int)
        and value["seen"] < before
    ]


class Expiry:
    """Which table partitions to sweep for engines silent for the TTL, and whom to drop.

    Event time decides who is silent: each partition's clock is the latest event
    time seen on it. The wall clock only spaces the sweeps (`every` seconds per
    partition), as a sweep reads all of a partition's keys.
    """

    def __init__(
        self, ttl_seconds: float, every: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl_ns = int(ttl_seconds * 1e9)
        self.every = every
        self.clock = clock
        self.latest: dict[int, int] = {}
        self.swept: dict[int, float] = {}

    def sweep(
        self,
        partitions: Iterable[int],
        latest: Mapping[int, int],
        values: Callable[[], Iterable[tuple[str, Any]]],
    ) -> dict[int, list[str]]:
        """The engines to drop, per partition of `partitions` due for a sweep;
        `latest` is a batch's latest event time per partition, `values` the table's items."""
        for partition, when in latest.items():
            self.latest[partition] = max(self.latest.get(partition, when), when)
        now = self.clock()
        doomed: dict[int, list[str]] = {}
        for partition in partitions:
            last = self.swept.get(partition)
            if partition not in self.latest or (last is not None and now - last < self.every):
                continue
            self.swept[partition] = now
            engines = expired(values(), partition, self.latest[partition] - self.ttl_ns)
            if engines:
                doomed[partition] = engines
        return doomed
