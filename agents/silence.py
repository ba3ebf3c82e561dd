"""Silent engines: an engine that stops sending shows as `silent`, not as a line that ends.

Each engine's usual interval is learnt from the gaps between its messages (a
moving average of the gaps, in event time). An engine counts as silent once
its partition's clock has passed its last message by `factor` times that
interval, and by at least `minimum`: an `engine_status` point with state
`silent` (code 7), at the time it became silent. When it speaks again, a point
with its last reported state (if it ever reported one) goes out at the time of
its first message back, so the state panels show it back before its next
`engine-state` message.

The clock is per by-engine partition: the latest event time seen there (a
watermark, advanced by the other engines' messages), so replaying a recording
finds the same silences. When the whole input is idle, the agents let the
clocks follow the wall clock (`follow_wall_clock`), else a fleet that stops
entirely would never be called silent.

An engine heard once has no interval yet, and is not called silent. What is
learnt lives in memory: a restarted or rebalanced worker learns an engine
again from its next messages, and until then does not call it silent.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from enginewatch.core.points import Point

SILENT_STATE = "silent"
SILENT_CODE = 7
# Weight of the newest gap in the moving average of an engine's interval.
SMOOTHING = 0.2


@dataclass(slots=True)
class _Engine:
    partition: int
    last: int  # event time of its latest message (ns)
    interval: float | None = None  # moving average of its gaps (ns)
    state: tuple[str, int] | None = None  # its latest engine-state: name, code
    silent: bool = False


@dataclass(frozen=True, slots=True)
class Heard:
    """One message of an engine: when, and the state it reported if an engine-state."""

    engine: str
    partition: int
    time: int
    state: tuple[str, int] | None = None


class Silence:
    """The engines of this worker's partitions, and when each last spoke.

    Each partition keeps a heap of the times its engines fall silent unless
    heard again (stale entries are skipped when popped), so a message costs a
    heap push, not a look at every engine: the same silences whatever the
    batches, as the clock moves message by message.
    """

    def __init__(self, factor: float, minimum_ns: int, model_for: Callable[[str], str]) -> None:
        self.factor = factor
        self.minimum_ns = minimum_ns
        self.model_for = model_for
        self._engines: dict[str, _Engine] = {}
        self._clocks: dict[int, int] = {}
        self._deadlines: dict[int, list[tuple[int, str, int]]] = {}

    def heard(self, messages: Iterable[Heard]) -> list[Point]:
        """Note messages in order; the points of engines that fell silent by the
        clock those messages move, and of silent engines that speak again."""
        points = []
        for m in messages:
            if m.time > self._clocks.get(m.partition, m.time - 1):
                self._clocks[m.partition] = m.time
                points += self.due([m.partition])
            engine = self._engines.get(m.engine)
            if engine is None or engine.partition != m.partition:
                engine = self._engines[m.engine] = _Engine(m.partition, m.time)
            elif m.time > engine.last:
                gap = m.time - engine.last
                engine.interval = (
                    gap
                    if engine.interval is None
                    else SMOOTHING * gap + (1 - SMOOTHING) * engine.interval
                )
                engine.last = m.time
                deadline = engine.last + self._after(engine.interval)
                heapq.heappush(
                    self._deadlines.setdefault(m.partition, []), (deadline, m.engine, m.time)
                )
            if engine.silent:
                engine.silent = False
                if m.state is None and engine.state is not None:
                    points.append(self._status(m.engine, engine.state, m.time))
            if m.state is not None:
                engine.state = m.state
        return points

    def due(self, partitions: Iterable[int]) -> list[Point]:
        """The engines of `partitions` that fell silent by their partition's clock."""
        points = []
        for partition in partitions:
            clock, heap = self._clocks.get(partition), self._deadlines.get(partition)
            while heap and clock is not None and heap[0][0] <= clock:
                deadline, name, last = heapq.heappop(heap)
                engine = self._engines.get(name)
                if engine is None or engine.silent or engine.last != last:
                    continue  # heard again since, or gone
                engine.silent = True
                points.append(self._status(name, (SILENT_STATE, SILENT_CODE), deadline))
        return points

    def follow_wall_clock(self, partitions: Iterable[int], elapsed_ns: int) -> None:
        """The whole input was idle for `elapsed_ns` more: move these clocks on by it."""
        for partition in partitions:
            if partition in self._clocks:
                self._clocks[partition] += elapsed_ns

    def keep_only(self, partitions: set[int]) -> None:
        """Forget the engines and clocks of partitions this worker no longer reads."""
        self._engines = {n: e for n, e in self._engines.items() if e.partition in partitions}
        self._clocks = {p: c for p, c in self._clocks.items() if p in partitions}
        self._deadlines = {p: h for p, h in self._deadlines.items() if p in partitions}

    def _after(self, interval: float) -> int:
        return max(self.minimum_ns, round(self.factor * interval))

    def _status(self, engine: str, state: tuple[str, int], time: int) -> Point:
        name, code = state
        tags = {"engine": engine, "model": self.model_for(engine)}
        return Point("engine_status", tags, {"code": code, "state": name}, time)
