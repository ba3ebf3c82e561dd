"""A silent engine shows as `silent`, and as itself again when it speaks: the real
agents and archiver, by event time while the others speak and by the wall clock
once the whole input is idle (agents/silence.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import orjson

from enginewatch.harness import influx, kafka
from enginewatch.harness.processes import Process
from tests.support.services import base_env
from tests.support.waiting import wait_until

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
QUIET, TALKER = "0e1f2a51-7c3e-4c0b-9a41-5e2f1b3c4d01", "0e1f2a51-7c3e-4c0b-9a41-5e2f1b3c4d02"
S = 1_000_000_000


def _message(engine: str, second: int, **fields: object) -> bytes:
    stamp = (T0 + timedelta(seconds=second)).isoformat().replace("+00:00", "Z")
    return orjson.dumps({"src": engine, "timestamp": stamp, **fields})


def _report(engine: str, second: int) -> bytes:
    return _message(engine, second, type="sensor-report", tap="sys.cpu.utilization", data=10)


def _running(engine: str, second: int) -> bytes:
    return _message(engine, second, type="engine-state", state="running")


def test_a_silent_engine_shows_as_silent_and_as_itself_again(
    workers: Callable[..., Process], unique: Callable[[str], str], database: str
) -> None:
    notify = unique("notify")
    kafka.create_topic(notify, 1)
    env = base_env(
        unique("app"),
        input_topic=notify,
        archive_topic=unique("archive"),
        dead_letter_topic=unique("dead"),
        influx_bucket=database,
        partitions="1",
        silent_after="3",  # three usual intervals (1 s here)
        silent_min="2",
        silent_idle="4",
    )
    for worker in ("agents", "archiver"):
        workers([worker, "-l", "info"], env, name=worker).wait_for_log("Ready", timeout=90)

    # QUIET speaks every second up to +10 s, falls silent, speaks once at +31 s;
    # TALKER speaks every second up to +33 s, then the whole input is idle.
    messages = [_running(QUIET, 0), _running(TALKER, 0)]
    for second in range(1, 34):
        if second <= 10 or second == 31:
            messages.append(_report(QUIET, second))
        messages.append(_report(TALKER, second))
    kafka.produce(notify, messages, keys=[b"k"] * len(messages))

    def statuses() -> list[tuple[str, str, int]]:
        rows = influx.rows(database, "SELECT state, engine FROM engine_status")
        found = []
        start = int(T0.timestamp()) * S
        for row in rows:  # times in ns since the epoch
            found.append((row["engine"], row["state"], round((row["time"] - start) / S)))
        return sorted(found, key=lambda s: (s[2], s[0]))

    # TALKER falls silent by the wall clock, the input being idle: at its last
    # message plus three intervals, like any silence.
    assert wait_until(lambda: (TALKER, "silent", 36) in statuses(), timeout=60), statuses()
    assert [s for s in statuses() if s[2] <= 36] == [
        (QUIET, "running", 0),
        (TALKER, "running", 0),
        (QUIET, "silent", 13),  # its last message (+10 s) plus three intervals
        (QUIET, "running", 31),  # back: its last reported state, at its first message
        (TALKER, "silent", 36),
    ]
    rows = influx.rows(database, "SELECT code FROM engine_status WHERE state = 'silent'")
    assert {row["code"] for row in rows} == {7}
