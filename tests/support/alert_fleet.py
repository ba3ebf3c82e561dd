"""Engine notifications that fire alerts and resolve them, as recording lines
(`enginewatch record`'s format: one message value a line), for the alert
tests: engines that run hot and cool down, fall into `error` and recover.

Times count seconds from T0 (2026-01-01T00:00:00Z); each line's timestamp is
its own. RULES fire on them: HighCPU above 90 (reset 80) for 10 s, and
EngineError when the engine says `error`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

T0 = datetime(2026, 1, 1, tzinfo=UTC)
S = 1_000_000_000
T0_NS = int(T0.timestamp()) * S

E1 = "0e1e0e1e-1111-4111-8111-000000000001"
E2 = "0e2e0e2e-2222-4222-8222-000000000002"
E3 = "0e3e0e3e-3333-4333-8333-000000000003"

RULES = """\
rules:
  - name: HighCPU
    measurement: system
    field: cpu_utilization
    above: 90
    reset: 80
    for: 10s
    annotations:
      summary: "CPU of {{ model }} on {{ engine }} at {{ value }} %"
  - name: EngineError
    measurement: engine_status
    field: code
    equals: 2
    severity: critical
    annotations:
      summary: "engine {{ engine }} is in error"
"""


def _stamp(seconds: float) -> str:
    return (
        (T0 + timedelta(seconds=seconds)).isoformat(timespec="microseconds").replace("+00:00", "Z")
    )


def state(src: str, seconds: float, value: str) -> bytes:
    """An engine-state notification."""
    message = {"type": "engine-state", "timestamp": _stamp(seconds), "src": src, "state": value}
    return orjson.dumps(message)


def cpu(src: str, seconds: float, percent: float) -> bytes:
    """A sensor report of the engine's CPU utilization."""
    message = {
        "type": "sensor-report",
        "timestamp": _stamp(seconds),
        "src": src,
        "tap": "sys.cpu.utilization",
        "data": percent,
    }
    return orjson.dumps(message)


# Three parts, each later than the last:
#   1. E1 runs hot from 0 s (HighCPU pending, firing at 10 s); E2 falls into
#      error at 12 s (EngineError fires); E3 runs cool.
#   2. E2 recovers at 25 s (its EngineError resolves); E3 falls into error at
#      30 s (fires); E1 at 85 %, above its reset: still firing.
#   3. E1 cools at 45 s (HighCPU resolves); E3 recovers at 50 s (resolves).
PARTS: list[list[bytes]] = [
    [
        state(E1, 0, "running"),
        state(E2, 0, "running"),
        state(E3, 0, "running"),
        cpu(E1, 0, 95.0),
        cpu(E2, 0, 40.0),
        cpu(E3, 0, 20.0),
        cpu(E1, 5, 96.0),
        cpu(E1, 10, 97.0),
        state(E2, 12, "error"),
        cpu(E3, 15, 25.0),
        cpu(E1, 15, 95.0),
    ],
    [
        cpu(E1, 20, 93.0),
        state(E2, 25, "running"),
        cpu(E1, 25, 85.0),
        state(E3, 30, "error"),
        cpu(E1, 35, 86.0),
    ],
    [
        cpu(E1, 45, 60.0),
        state(E3, 50, "running"),
        cpu(E2, 55, 30.0),
    ],
]

# (alertname, engine, previous, state, seconds) of every transition the parts give.
TRANSITIONS = [
    ("HighCPU", E1, "inactive", "pending", 0),
    ("HighCPU", E1, "pending", "firing", 10),
    ("EngineError", E2, "inactive", "firing", 12),
    ("EngineError", E2, "firing", "resolved", 25),
    ("EngineError", E3, "inactive", "firing", 30),
    ("HighCPU", E1, "firing", "resolved", 45),
    ("EngineError", E3, "firing", "resolved", 50),
]


def write_recording(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    return path
