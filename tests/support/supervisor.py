"""A supervisor for a worker under test, as systemd or Kubernetes would be one."""

from __future__ import annotations

import threading
from collections.abc import Callable

from enginewatch.harness.processes import Process


class Supervisor:
    """Starts the worker again whenever it stops with exit 1: a batch that failed,
    or input Faust lost on its way (enginewatch/core/continuity.py), makes a
    worker stop so that its partitions are read again from their commits."""

    def __init__(self, start: Callable[[int], Process]) -> None:
        self._start = start
        self.workers = [start(0)]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.wait(0.5):
            if self.workers[-1].exit_code() == 1:
                self.workers.append(self._start(len(self.workers)))

    def log(self) -> str:
        """Every start's log, one after the other."""
        return "".join(worker.log() for worker in self.workers)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
