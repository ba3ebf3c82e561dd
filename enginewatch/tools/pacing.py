"""When each message of a replay is due, as an offset in seconds from the start."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable


class Schedule:
    """Offsets for a run: as fast as possible, at a fixed rate, or the original timing."""

    def due(self, index: int, message_time: float | None) -> float:
        """Seconds after the start at which message `index` (0-based) is due."""
        return 0.0


class FixedRate(Schedule):
    def __init__(self, rate: float) -> None:
        if rate <= 0:
            raise ValueError("the rate must be above 0")
        self.rate = rate

    def due(self, index: int, message_time: float | None) -> float:
        return index / self.rate


class OriginalTiming(Schedule):
    """Spacing from the messages' own timestamps, optionally sped up.

    The first message with a timestamp is due at once; each later one as long
    after it as its timestamp says (divided by `speed`). A message without a
    usable timestamp, or one that goes back in time, follows the previous
    message without delay, so the schedule never runs backwards.
    """

    def __init__(self, speed: float = 1.0) -> None:
        if speed <= 0:
            raise ValueError("the speed must be above 0")
        self.speed = speed
        self._first: float | None = None
        self._last = 0.0

    def due(self, index: int, message_time: float | None) -> float:
        if message_time is not None:
            if self._first is None:
                self._first = message_time
            self._last = max(self._last, (message_time - self._first) / self.speed)
        return self._last


class Pacer:
    """Sleeps until each offset is reached; never sleeps when behind."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.started = clock()

    async def wait_until(self, offset: float, stop: asyncio.Event | None = None) -> None:
        """Return when `offset` seconds have passed since the start, or `stop` is set."""
        delay = self.started + offset - self.clock()
        if delay <= 0:
            return
        if stop is None:
            await asyncio.sleep(delay)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=delay)
