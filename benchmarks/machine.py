"""Where and with what the figures were measured: machine, versions, date."""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmarks.procs import ROOT
from enginewatch.core.influxql import InfluxQueryError
from enginewatch.harness import influx

PACKAGES = ("faust-streaming", "aiokafka", "orjson", "influxdb-client", "uvloop", "requests")


def describe() -> dict[str, Any]:
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "commit": _git("rev-parse", "--short", "HEAD"),
        "machine": {
            "cpu": _cpu_model(),
            "cores": os.cpu_count(),
            "memory_gib": round(_memory_kib() / 1024 / 1024, 1),
            "os": f"{platform.system()} {platform.release()}",
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        },
        "versions": {
            "python": platform.python_version(),
            **{name: _version(name) for name in PACKAGES},
            "kafka": _kafka_version(),
            "influxdb": _influx_version(),
        },
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_kib() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _kafka_version() -> str:
    """The broker's version, from the jar the local service runs."""
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "enginewatch"
    jars = sorted(cache.glob("kafka-*/lib/kafka_*.jar"))
    for jar in jars:
        version = jar.stem.split("-", 1)[-1]
        if version[:1].isdigit():
            return version
    return "unknown"


def _influx_version() -> str:
    try:
        return influx.wait_until_up(timeout=5)
    except InfluxQueryError:
        return "unknown"


def _git(*args: str) -> str:
    try:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
