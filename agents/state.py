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
`{"carried": {tap: amount}, "applied": {"topic/partition": offset}}`. A value
of the earlier shape, the carried amounts alone, reads as carried amounts
with nothing applied.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from enginewatch.core.points import Origin


def _partition(origin: Origin) -> str:
    return f"{origin.topic}/{origin.partition}"


@dataclass(frozen=True, slots=True)
class EngineState:
    carried: Mapping[str, float] = field(default_factory=dict)
    applied: Mapping[str, int] = field(default_factory=dict)

    def has_applied(self, origin: Origin) -> bool:
        """Whether the input at `origin` (or a later one of its partition) was applied."""
        last = self.applied.get(_partition(origin))
        return last is not None and origin.offset <= last

    def after(self, origin: Origin, carried: Mapping[str, float] | None) -> EngineState:
        """The state once the input at `origin` is applied (`carried`: None if unchanged)."""
        return EngineState(
            self.carried if carried is None else carried,
            {**self.applied, _partition(origin): origin.offset},
        )

    def to_table(self) -> dict[str, Any]:
        return {"carried": dict(self.carried), "applied": dict(self.applied)}

    @classmethod
    def from_table(cls, value: Any) -> EngineState:
        """The state a table value holds (nothing yet: an empty state)."""
        if not value:
            return cls()
        if isinstance(value.get("carried"), dict) and isinstance(value.get("applied"), dict):
            return cls(value["carried"], value["applied"])
        return cls(value)  # the carried amounts alone, as earlier releases kept them
