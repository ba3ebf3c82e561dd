"""One measured run of workers over a backlog: start, settle, feed, read the pace from outside."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from benchmarks import kafkaio
from benchmarks.cpu import CpuSampler, cpu_seconds
from benchmarks.procs import ROOT
from benchmarks.rates import Sample, steady_window
from benchmarks.session import Session
from benchmarks.workload import Recording
from enginewatch.harness.processes import Process


@dataclass(frozen=True)
class Throughput:
    rate: float  # units per second in the steady part
    cpu_us: float  # the workers' CPU microseconds per unit in the steady part
    services_cpu_us: float = 0.0  # Kafka's and InfluxDB's, in the same window


def service_pids() -> list[int]:
    """The local Kafka and InfluxDB processes (services/local.sh keeps their pids)."""
    pids = []
    for service in ("kafka", "influxdb"):
        try:
            pids.append(int((ROOT / ".run" / service / "pid").read_text().strip()))
        except (OSError, ValueError):
            continue
    return [pid for pid in pids if cpu_seconds(pid) is not None]


def start_and_settle(
    session: Session, label: str, argvs: Sequence[Sequence[str]], env: dict[str, str], topic: str
) -> list[Process]:
    """Start the workers and wait until each has joined the group and holds part of `topic`.

    Feeding them only then keeps rebalances out of the measurement.
    """
    workers = [session.start(label, argv, env) for argv in argvs]
    timeout = session.scale.timeout
    for worker in workers:
        worker.wait_for_log("Ready", timeout)
    for worker in workers:
        # Faust's assignment table lists the topic once partitions of it are assigned.
        worker.wait_for_log(f"| {topic} ", timeout)
    if len(workers) > 1:
        time.sleep(1.0)  # the first worker's own rebalance settles
    return workers


# How finely a record's CreateTime is known, in seconds.
CREATE_TIME_RESOLUTION = 0.001


def feed_and_measure(
    workers: Sequence[Process],
    topic: str,
    recording: Recording,
    total: float,
    collect: Callable[[], list[Sample]],
) -> Throughput:
    """Produce the recording into `topic`, then read the workers' progress from outside."""
    with CpuSampler([w.pid for w in workers]) as cpu, CpuSampler(service_pids()) as services:
        feeding = time.time()
        asyncio.run(kafkaio.produce(topic, recording.values, recording.keys))
        produced = time.time()
        # Nothing can have been done before the input existed.
        samples = [Sample(feeding, 0), *collect()]
    # The samples are the output records' CreateTime, in milliseconds.
    window = steady_window(samples, total, not_before=produced, resolution=CREATE_TIME_RESOLUTION)
    # CPU over the whole run, from the first input to the last output: the
    # stages of a pipeline do not all work inside the rate's window.
    finished = samples[-1].time
    return Throughput(
        window.rate,
        cpu.seconds_between(feeding, finished) / total * 1e6,
        services.seconds_between(feeding, finished) / total * 1e6,
    )
