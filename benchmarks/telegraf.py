"""Telegraf beside enginewatch: the same recording from Kafka into the same InfluxDB.

Telegraf 1.37 (`kafka_consumer` input, `json_v2` parser, `influxdb` output)
runs as a real process with the configuration committed beside this module
(telegraf.conf), built by `services/local.sh telegraf`. As for the baseline,
the recording is produced first and Telegraf started on it; its progress is
read from InfluxDB's write statistics. How many points Telegraf makes of a
recording is not known beforehand (a list makes a metric per element, a
refused message none), so a run ends once its consumer group has committed
every message and the count has then stood still for a few seconds: Telegraf
commits a message only after its metrics were written.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks import influxio, kafkaio
from benchmarks.cpu import CpuSampler
from benchmarks.measure import Throughput, service_pids
from benchmarks.procs import ROOT
from benchmarks.rates import Sample, steady_window
from benchmarks.session import Session
from benchmarks.workload import Recording
from enginewatch.harness import influx, kafka
from enginewatch.harness.processes import Process

CONFIG = Path(__file__).with_name("telegraf.conf")  # field types forced: the one measured
GENERIC_CONFIG = Path(__file__).with_name("telegraf-generic.conf")  # every key as it comes
LOCAL_SH = ROOT / "services" / "local.sh"
BUILD_TIMEOUT = 900.0  # a first build on a fresh machine downloads Telegraf's modules
QUIET = 3.0  # seconds without a new point, once every message was committed
POLL = 0.05  # InfluxDB's statistics, as influxio polls them
COMMIT_POLL = 0.5  # the group's committed offsets (Telegraf commits every second)


@dataclass
class Drained:
    """One Telegraf run over a recording, finished: progress, CPU, and its log."""

    database: str
    samples: list[Sample]  # points written, from Telegraf's start
    cpu: CpuSampler  # Telegraf's
    services: CpuSampler  # Kafka's and InfluxDB's
    log: str

    @property
    def points(self) -> int:
        return int(self.samples[-1].done)


def telegraf_binary() -> Path:
    """The binary, built first when missing (`services/local.sh telegraf`)."""
    done = subprocess.run(
        [str(LOCAL_SH), "telegraf"],
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"services/local.sh telegraf failed:\n{done.stderr}")
    return Path(done.stdout.strip().splitlines()[-1])


def telegraf_version() -> str:
    """The version services/local.sh builds (a binary built by `go install` calls
    itself "unknown")."""
    found = re.search(r"^TELEGRAF_VERSION=(\S+)$", LOCAL_SH.read_text(), re.MULTILINE)
    return found.group(1) if found else "unknown"


def telegraf_throughput(session: Session, recording: Recording) -> Throughput:
    """Messages per second from Kafka to points accepted by InfluxDB, in the steady part."""
    run = drain(session, recording, CONFIG, "telegraf")
    window = steady_window(run.samples, run.points)
    per_message = run.points / len(recording)
    per_unit = per_message / window.units * 1e6
    return Throughput(
        window.rate / per_message,
        run.cpu.seconds_between(window.start, window.end) * per_unit,
        run.services.seconds_between(window.start, window.end) * per_unit,
    )


def drain(session: Session, recording: Recording, config: Path, label: str) -> Drained:
    """Produce the recording, run Telegraf with `config` over it until it is done, stop it."""
    slug = label.replace(" ", "-")  # topic, group and database names have no spaces
    topic, group, database = session.topic(f"{slug}-in"), session.name(slug), session.database(slug)
    asyncio.run(kafkaio.produce(topic, recording.values, recording.keys))
    env = {
        "BENCH_BROKER": kafka.LOCAL_BOOTSTRAP,
        "BENCH_TOPIC": topic,
        "BENCH_GROUP": group,
        "BENCH_INFLUX_URL": influx.LOCAL_URL,
        "BENCH_DATABASE": database,
    }
    argv = [str(telegraf_binary()), "--config", str(config)]
    started = time.time()
    process = session.start(label, argv, env)
    try:
        with CpuSampler([process.pid]) as cpu, CpuSampler(service_pids()) as services:
            samples = [
                Sample(started, 0),
                *_until_done(session, process, group, topic, len(recording), database),
            ]
    finally:
        session.stop(process)
    return Drained(database, samples, cpu, services, process.log())


def _until_done(
    session: Session, process: Process, group: str, topic: str, messages: int, database: str
) -> list[Sample]:
    """Poll InfluxDB's count until the group committed all `messages` and the count
    then stood still for QUIET seconds; the samples tell the pace."""
    samples: list[Sample] = []
    deadline = time.monotonic() + session.scale.timeout
    consumed, asked, still_since, last = False, 0.0, time.time(), -1
    while True:
        process.check()
        now = time.time()
        seen = influxio.points_written(database)
        samples.append(Sample(now, seen))
        if seen != last:
            still_since, last = now, seen
        # Asked only in a lull, so the question costs nothing while points arrive.
        if not consumed and now - still_since >= COMMIT_POLL and now - asked >= COMMIT_POLL:
            asked = now
            if kafka.committed(group, topic) >= messages:
                consumed, still_since = True, now
        if consumed and now - still_since >= QUIET:
            return samples
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"{process.name}: {seen} points after {session.scale.timeout:g}s, "
                f"every message committed: {consumed}; see {process.log_path}"
            )
        time.sleep(POLL)
