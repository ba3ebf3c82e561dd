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
`{"carried": {tap: amount}, "applied": {"topic/partition": offset},
"model": the model its output reports name, or null, "partition": the table
partition, "written": when it was written (Unix time, s)}`. A
value of the earlier shape, the carried amounts alone, reads as carried
amounts with nothing applied.

A state not written for ENGINEWATCH_STATE_TTL (engines get new UUIDs when
redeployed, so old ones fall silent for good) is dropped: `expired` names
those of a partition, and the agents delete them, which writes a tombstone to
the changelog. The wall clock decides, not the messages' times: a state is
about the agents' work, not a metric, and one engine's clock far ahead must
not expire every other engine's state.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from enginewatch.core.points import Origin


def _partition(origin: Origin) -> str:
    return f"{origin.topic}/{origin.partition}"


# Stable: the table's name is part of its changelog topic, so renaming it loses state.
CARRIED_TABLE = "carried-amounts"


def carried_changelog(app_id: str) -> str:
    """The changelog topic of the carried-amounts table for ENGINEWATCH_APP_ID
    `app_id`: Faust names it `{app}-{table}-changelog`, and the agents' app is
    `{app_id}-agents`."""
    return f"{app_id}-agents-{CARRIED_TABLE}-changelog"


@dataclass(frozen=True, slots=True)
class CarryState:
    carried: Mapping[str, float] = field(default_factory=dict)
    applied: Mapping[str, int] = field(default_factory=dict)
    # The model the engine's own output reports name: the name of last resort.
    reported_model: str | None = None

    def has_applied(self, origin: Origin) -> bool:
        """Whether the input at `origin` (or a later one of its partition) was applied."""
        last = self.applied.get(_partition(origin))
        return last is not None and origin.offset <= last

    def after(
        self,
        origin: Origin,
        carried: Mapping[str, float] | None,
        reported_model: str | None = None,
    ) -> CarryState:
        """The state once the input at `origin` is applied (`carried`,
        `reported_model`: None if unchanged)."""
        return CarryState(
            self.carried if carried is None else carried,
            {**self.applied, _partition(origin): origin.offset},
            reported_model or self.reported_model,
        )

    def to_table(self, partition: int, written: float) -> dict[str, Any]:
        """The table value, written to table partition `partition` at Unix time
        `written`: the expiry needs both (a key's partition is wherever its
        engine's records arrive)."""
        return {
            "carried": dict(self.carried),
            "applied": dict(self.applied),
            "model": self.reported_model,
            "partition": partition,
            "written": written,
        }

    @classmethod
    def from_table(cls, value: Any) -> CarryState:
        """The state a table value holds (nothing yet: an empty state)."""
        if not value:
            return cls()
        if isinstance(value.get("carried"), dict) and isinstance(value.get("applied"), dict):
            model = value.get("model")
            return cls(
                value["carried"], value["applied"], model if isinstance(model, str) else None
            )
        return cls(value)  # the carried amounts alone, as earlier releases kept them


def expired(values: Iterable[tuple[str, Any]], partition: int, before: float) -> list[str]:
    """The engines of a table partition whose state was written before `before`
    (Unix time). A value of the earlier shape says neither partition nor time:
    it stays until its engine's state is written again."""
    return [
        engine
        for engine, value in values
        if isinstance(value, dict)
        and value.get("partition") == partition
        and isinstance(value.get("written"), int | float)
        and value["written"] < before
    ]


class Expiry:
    """Which table partitions to sweep for states not written for the TTL, and
    whose to drop. A sweep reads all of a partition's keys, so each partition
    is swept at most every `every` seconds (and only when a batch reads it)."""

    def __init__(
        self, ttl_seconds: float, every: float, clock: Callable[[], float] = time.time
    ) -> None:
        self.ttl = ttl_seconds
        self.every = every
        self.clock = clock
        self.swept: dict[int, float] = {}

    def sweep(
        self, partitions: Iterable[int], values: Callable[[], Iterable[tuple[str, Any]]]
    ) -> dict[int, list[str]]:
        """The engines to drop, per partition of `partitions` due for a sweep;
        `values` gives the table's items."""
        now = self.clock()
        doomed: dict[int, list[str]] = {}
        for partition in partitions:
            last = self.swept.get(partition)
            if last is not None and now - last < self.every:
                continue
            self.swept[partition] = now
            engines = expired(values(), partition, now - self.ttl)
            if engines:
                doomed[partition] = engines
        return doomed
