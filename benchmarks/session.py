"""One benchmark invocation: its scale, unique names, worker processes, and clean-up.

Every topic, consumer group (Faust app id) and database carries the
session's token and a counter, so runs never see each other's data, and all
of them are removed at the end.
"""

from __future__ import annotations

import sys
import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks.procs import ROOT
from enginewatch.harness import influx, kafka
from enginewatch.harness.processes import Process, enginewatch_command, settings_env


@dataclass(frozen=True)
class Scale:
    """How much work each figure gets; `full` for `make bench`, `smoke` for the test."""

    name: str
    runs: int
    agents_messages: int  # sensor reports through the agents, per run
    pipeline_messages: int  # notifications of every type through the whole pipeline
    invalid_lines: int  # put among them for the correctness table (benchmarks/invalid.py)
    latency_seconds: float
    latency_rate: float
    archive_copies: int  # the agents' points, this many times over, for the archiver
    encoder_points: int
    profile_messages: int
    monitors_records: int  # records of ten numeric fields through one monitors worker
    monitors_pairs: int  # predictions and as many truths through its join
    timeout: float  # the longest any one step may take before the run fails


FULL = Scale(
    name="full",
    runs=3,
    agents_messages=50_000,
    pipeline_messages=60_000,
    invalid_lines=500,
    latency_seconds=20.0,
    latency_rate=2000.0,
    archive_copies=10,
    encoder_points=50_000,
    profile_messages=30_000,
    monitors_records=50_000,
    monitors_pairs=25_000,
    timeout=240.0,
)
SMOKE = Scale(
    name="smoke",
    runs=1,
    agents_messages=1_500,
    pipeline_messages=1_000,
    invalid_lines=28,
    latency_seconds=3.0,
    latency_rate=500.0,
    archive_copies=2,
    encoder_points=2_000,
    profile_messages=1_000,
    monitors_records=3_000,
    monitors_pairs=1_500,
    timeout=120.0,
)

PARTITIONS = 4


class Session:
    def __init__(self, scale: Scale, workdir: Path) -> None:
        self.scale = scale
        self.workdir = workdir
        self.token = f"bench-{uuid.uuid4().hex[:8]}"
        self.peak_rss: dict[str, list[int]] = defaultdict(list)
        self._counter = 0
        self._databases: list[str] = []
        self._running: list[Process] = []

    def name(self, what: str) -> str:
        """A unique topic name or app id."""
        self._counter += 1
        return f"{self.token}-{self._counter}-{what}"

    def database(self, what: str) -> str:
        name = self.name(what).replace("-", "_")
        self._databases.append(name)
        return name

    def topic(self, what: str, partitions: int = PARTITIONS) -> str:
        name = self.name(what)
        kafka.create_topic(name, partitions)
        return name

    def env(self, app_id: str, **settings: str) -> dict[str, str]:
        """ENGINEWATCH_* settings for one run, on the local services. The workers
        send no points on themselves (`self_interval` 0): a run counts exactly the
        points its input gives."""
        return settings_env(
            **{
                "app_id": app_id,
                "broker": kafka.LOCAL_BROKER,
                "influx_url": influx.LOCAL_URL,
                "partitions": str(PARTITIONS),
                "self_interval": "0",
                **settings,
            }
        )

    def start(self, label: str, argv: Sequence[str], env: Mapping[str, str]) -> Process:
        """Start a worker in the session's folder (Faust keeps a data folder in its cwd)."""
        log = self.workdir / f"{self.name(label.replace(' ', '-'))}.log"
        # The benchmarks package is not installed: the worker finds it on the path.
        process = Process(argv, {**env, "PYTHONPATH": str(ROOT)}, log, name=label, cwd=self.workdir)
        self._running.append(process.start())
        return process

    def stop(self, *processes: Process) -> None:
        for process in processes:
            process.stop()
            if process in self._running:
                self._running.remove(process)
                if process.peak_rss_bytes is not None:
                    self.peak_rss[process.name].append(process.peak_rss_bytes)

    def close(self) -> None:
        """Stop what still runs, drop the databases, delete the session's topics."""
        self.stop(*list(self._running))
        for database in self._databases:
            influx.drop_database(database)
        kafka.delete_topics(self.token)


def enginewatch(*args: str) -> list[str]:
    """`.venv/bin/enginewatch ARGS`, the way an operator starts a worker."""
    return enginewatch_command(*args)


def module(name: str, *args: str) -> list[str]:
    """`python -m NAME ARGS`: a worker of the benchmarks' own (no-op app, baseline, ...)."""
    return [sys.executable, "-m", name, *args]
