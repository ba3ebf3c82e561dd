"""Host metrics: one `enginewatch_host` point per sample, read through psutil.

What a sample holds (README, metric reference): CPU percent average, minimum
and maximum across CPUs; memory percent; disk usage percent of one path; disk
bytes read and written, network bytes sent and received (loopback and external
apart) since the previous sample and per second; the process's own CPU percent
and resident memory.

Everything that is a change between two readings (CPU percents, byte counts)
is computed here from two readings of psutil's cumulative counters, by pure
functions: the first sample has no such fields. psutil's own `cpu_percent()`
keeps its previous reading in module state, which any other caller in the
process would move; two readings held here cannot be disturbed.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import psutil

from enginewatch.core.points import Point

MEASUREMENT = "enginewatch_host"


@dataclass(frozen=True, slots=True)
class CpuTimes:
    """One CPU's cumulative seconds: busy (neither idle nor waiting for I/O) and in all."""

    busy: float
    total: float


@dataclass(frozen=True, slots=True)
class Traffic:
    """Cumulative bytes sent and received."""

    sent: int
    received: int


@dataclass(frozen=True, slots=True)
class DiskBytes:
    """Cumulative bytes read from and written to every disk."""

    read: int
    written: int


@dataclass(frozen=True, slots=True)
class Reading:
    """One reading of the host's cumulative counters, at a monotonic time in seconds."""

    at: float
    cpus: tuple[CpuTimes, ...]
    process_cpu_seconds: float
    disk: DiskBytes | None  # None: psutil sees no disk here (some containers)
    nics: Mapping[str, Traffic]


@dataclass(frozen=True, slots=True)
class NetworkSplit:
    loopback: Traffic
    external: Traffic


def cpu_times(user: float, system: float, idle: float, **rest: float) -> CpuTimes:
    """A CPU's times as psutil reports them -> busy and total seconds.

    As psutil's own cpu_percent counts: iowait is idle time, and on Linux the
    guest times are already part of user and nice, so they are not added twice.
    """
    others = {k: v for k, v in rest.items() if k not in ("guest", "guest_nice")}
    total = user + system + idle + sum(others.values())
    return CpuTimes(busy=total - idle - rest.get("iowait", 0.0), total=total)


def cpu_percents(previous: Iterable[CpuTimes], current: Iterable[CpuTimes]) -> list[float]:
    """Each CPU's busy percent between two readings; a CPU whose clock did not move is 0."""
    percents = []
    for before, now in zip(previous, current, strict=False):
        elapsed = now.total - before.total
        busy = now.busy - before.busy
        percents.append(min(100.0, max(0.0, 100.0 * busy / elapsed)) if elapsed > 0 else 0.0)
    return percents


def is_loopback(name: str, flags: str) -> bool:
    """Loopback: psutil's flags say `loopback`, or the name is `lo`, `lo0`, ... (where the
    flags are missing)."""
    return "loopback" in flags.split(",") or name.startswith("lo")


def split_network(nics: Mapping[str, Traffic], loopback: Iterable[str]) -> NetworkSplit:
    """Sum the interfaces' bytes into loopback and external."""
    looped = set(loopback)
    inner = [t for name, t in nics.items() if name in looped]
    outer = [t for name, t in nics.items() if name not in looped]
    return NetworkSplit(
        Traffic(sum(t.sent for t in inner), sum(t.received for t in inner)),
        Traffic(sum(t.sent for t in outer), sum(t.received for t in outer)),
    )


def traffic_delta(
    previous: Mapping[str, Traffic], current: Mapping[str, Traffic]
) -> dict[str, Traffic]:
    """Per interface, the bytes since the previous reading.

    An interface in only one reading (plugged in, removed) has no delta, and a
    counter that fell (the interface was reset) counts as 0: neither may show
    as traffic.
    """
    return {
        name: Traffic(max(0, now.sent - before.sent), max(0, now.received - before.received))
        for name, now in current.items()
        if (before := previous.get(name)) is not None
    }


def per_second(amount: float, seconds: float) -> float | None:
    """A rate, or None when no time passed."""
    return amount / seconds if seconds > 0 else None


def change_fields(previous: Reading, current: Reading, loopback: Iterable[str]) -> dict[str, float]:
    """The fields that need two readings: CPU percents, bytes since and per second."""
    seconds = current.at - previous.at
    fields: dict[str, float] = {}
    percents = cpu_percents(previous.cpus, current.cpus)
    if percents:
        fields["cpu_percent_avg"] = sum(percents) / len(percents)
        fields["cpu_percent_min"] = min(percents)
        fields["cpu_percent_max"] = max(percents)
    if (
        process := per_second(current.process_cpu_seconds - previous.process_cpu_seconds, seconds)
    ) is not None:
        fields["process_cpu_percent"] = max(0.0, 100.0 * process)
    amounts: dict[str, int] = {}
    if previous.disk is not None and current.disk is not None:
        amounts["disk_read_bytes"] = max(0, current.disk.read - previous.disk.read)
        amounts["disk_write_bytes"] = max(0, current.disk.written - previous.disk.written)
    split = split_network(traffic_delta(previous.nics, current.nics), loopback)
    amounts["net_loopback_sent_bytes"] = split.loopback.sent
    amounts["net_loopback_recv_bytes"] = split.loopback.received
    amounts["net_external_sent_bytes"] = split.external.sent
    amounts["net_external_recv_bytes"] = split.external.received
    for name, amount in amounts.items():
        fields[name] = float(amount)
        if (rate := per_second(amount, seconds)) is not None:
            fields[f"{name}_per_second"] = rate
    return fields


class HostSampler:
    """Samples the host and this process; each `sample()` is one `enginewatch_host` point.

    Keeps the previous reading, so the second sample on carries the changes.
    """

    def __init__(
        self, instance: str, disk_path: str = "/", hostname: str | None = None, worker: str = ""
    ) -> None:
        self.instance, self.worker = instance, worker
        self.disk_path = disk_path
        self.hostname = hostname or socket.gethostname()
        self._process = psutil.Process()
        self._previous: Reading | None = None

    def sample(self, now_ns: int) -> Point:
        reading = self._read()
        fields: dict[str, float] = {
            "memory_percent": float(psutil.virtual_memory().percent),
            "disk_percent": float(psutil.disk_usage(self.disk_path).percent),
            "process_rss_bytes": float(self._process.memory_info().rss),
        }
        if self._previous is not None:
            fields.update(change_fields(self._previous, reading, self._loopback(reading.nics)))
        self._previous = reading
        tags = {"host": self.hostname, "instance": self.instance}
        if self.worker:
            tags["worker"] = self.worker
        return Point(MEASUREMENT, tags, fields, now_ns)

    def _read(self) -> Reading:
        disk = psutil.disk_io_counters()
        process = self._process.cpu_times()
        return Reading(
            at=time.monotonic(),
            cpus=tuple(cpu_times(**t._asdict()) for t in psutil.cpu_times(percpu=True)),
            process_cpu_seconds=process.user + process.system,
            disk=DiskBytes(disk.read_bytes, disk.write_bytes) if disk is not None else None,
            nics={
                name: Traffic(c.bytes_sent, c.bytes_recv)
                for name, c in psutil.net_io_counters(pernic=True).items()
            },
        )

    @staticmethod
    def _loopback(nics: Iterable[str]) -> set[str]:
        stats = psutil.net_if_stats()
        return {
            name for name in nics if is_loopback(name, stats[name].flags if name in stats else "")
        }
