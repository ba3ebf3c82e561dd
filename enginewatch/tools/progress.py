"""Progress of a long run (count, rate, ETA) on a terminal; silent otherwise."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO


def format_duration(seconds: float) -> str:
    """`1:02:03` / `2:03` for a number of seconds (rounded up, never negative)."""
    whole = max(0, int(seconds + 0.999))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def format_progress(
    label: str,
    count: int,
    elapsed: float,
    total: int | None = None,
    *,
    unit: str = "msgs",
    fraction: float | None = None,
) -> str:
    """One status line: count (of total), average rate, elapsed time and ETA.

    The ETA comes from the share done: `count / total`, or `fraction` when the
    end is known some other way (e.g. a duration).
    """
    rate = count / elapsed if elapsed > 0 else 0.0
    done = f"{count:,}/{total:,} {unit}" if total is not None else f"{count:,} {unit}"
    line = f"{label}: {done}  {rate:,.1f}/s  elapsed {format_duration(elapsed)}"
    if fraction is None and total is not None:
        fraction = count / total if total > 0 else 1.0
    if fraction is not None:
        if fraction >= 1:
            line += "  ETA 0:00"
        elif fraction > 0:
            line += f"  ETA {format_duration(elapsed * (1 - fraction) / fraction)}"
    return line


class Progress:
    """Redraws one status line on `stream` at most every `interval` seconds.

    Enabled only when the stream is a terminal, so logs and pipes stay clean.
    """

    def __init__(
        self,
        label: str,
        total: int | None = None,
        *,
        unit: str = "msgs",
        stream: TextIO | None = None,
        enabled: bool | None = None,
        interval: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label = label
        self.total = total
        self.unit = unit
        self.stream = sys.stderr if stream is None else stream
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.interval = interval
        self.clock = clock
        self.started = clock()
        self._drawn_at: float | None = None
        self._width = 0

    def update(self, count: int, *, fraction: float | None = None, force: bool = False) -> None:
        if not self.enabled:
            return
        now = self.clock()
        if not force and self._drawn_at is not None and now - self._drawn_at < self.interval:
            return
        self._drawn_at = now
        line = format_progress(
            self.label, count, now - self.started, self.total, unit=self.unit, fraction=fraction
        )
        # Pad over the previous line: it may have been longer.
        self.stream.write("\r" + line.ljust(self._width))
        self.stream.flush()
        self._width = len(line)

    def close(self, count: int, *, fraction: float | None = None) -> None:
        """Draw the final state and end the line."""
        if not self.enabled:
            return
        self.update(count, fraction=fraction, force=True)
        self.stream.write("\n")
        self.stream.flush()
