"""benchmarks/cpu.py: a run between the sampler's start and stop lies between two samples."""

from __future__ import annotations

import os
import time

from benchmarks.cpu import CpuSampler


def test_a_run_shorter_than_one_interval_lies_between_two_samples() -> None:
    with CpuSampler([os.getpid()], interval=60.0) as cpu:
        started = time.time()
        deadline = time.process_time() + 0.05
        while time.process_time() < deadline:  # 50 ms of CPU, well inside one interval
            pass
        finished = time.time()
    assert cpu.samples[0].time <= started
    assert cpu.samples[-1].time >= finished
    assert cpu.seconds_between(started, finished) > 0
