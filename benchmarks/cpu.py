"""CPU time of processes, sampled from /proc while they run.

CPU seconds per unit of work is the steadiest figure on a shared machine: a
neighbour slows a worker down but does not make its events cost more CPU.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks.rates import Sample, count_at

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds the process has used so far."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


class CpuSampler:
    """Samples the summed CPU time of some processes every `interval` seconds, in a thread."""

    def __init__(self, pids: Sequence[int], interval: float = 0.1) -> None:
        self.pids = list(pids)
        self.interval = interval
        self.samples: list[Sample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> CpuSampler:
        # One sample now and one at the end: a run shorter than the thread takes to
        # start (a smoke run on a busy machine) is still between two samples.
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def seconds_between(self, start: float, end: float) -> float:
        return count_at(self.samples, end) - count_at(self.samples, start)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def _sample(self) -> None:
        used = [cpu_seconds(pid) for pid in self.pids]
        if all(u is not None for u in used):
            self.samples.append(Sample(time.time(), sum(u for u in used if u is not None)))
