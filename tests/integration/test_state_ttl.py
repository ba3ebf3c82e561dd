"""An engine's carried amounts expire: ENGINEWATCH_STATE_TTL on the real agents.

An engine silent for the TTL has its state deleted from the `carried-amounts`
table, which Faust writes to the table's changelog topic as a tombstone (a
message with the engine's key and no value), so a restarted or rebalanced worker
does not recover it either. The engine still speaking keeps its state.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import orjson

from agents.state import carried_changelog
from enginewatch.harness import kafka
from enginewatch.harness.processes import Process
from tests.support.services import base_env
from tests.support.waiting import wait_until

TTL_SECONDS = 3.0
SILENT = "0d6f2a51-7c3e-4c0b-9a41-5e2f1b3c4d01"
SPEAKING = "0d6f2a51-7c3e-4c0b-9a41-5e2f1b3c4d02"


def _report(engine: str, second: int) -> bytes:
    return orjson.dumps(
        {
            "type": "sensor-report",
            "src": engine,
            "timestamp": f"2026-03-02T08:00:{second:02d}Z",
            "tap": "manifold.0.records.count",
            "data": 5,  # no delta_time: the count is carried to the next report
        }
    )


def _changelog(topic: str) -> list[tuple[str, bool]]:
    """(engine, whether a state or a tombstone), in the changelog's order."""
    found = []
    for record in kafka.read_all(topic):
        key = (record.key or b"").decode()
        engine = SILENT if SILENT in key else SPEAKING if SPEAKING in key else key
        found.append((engine, record.value is not None))
    return found


def test_an_engine_silent_for_the_ttl_loses_its_state_with_a_tombstone(
    workers: Callable[..., Process], unique: Callable[[str], str]
) -> None:
    app_id, notify = unique("app"), unique("notify")
    for topic in (notify, unique("archive"), unique("dead")):
        kafka.create_topic(topic, 1)
    env = base_env(
        app_id,
        input_topic=notify,
        archive_topic=unique("archive"),
        dead_letter_topic=unique("dead"),
        partitions="1",
        state_ttl=str(TTL_SECONDS),
    )
    agents = workers(["agents", "-l", "info"], env, name="agents")
    agents.wait_for_log("Ready", timeout=90)
    changelog = carried_changelog(app_id)

    kafka.produce(notify, [_report(SILENT, 0), _report(SPEAKING, 0)], keys=[b"s", b"p"])
    assert wait_until(
        lambda: {(SILENT, True), (SPEAKING, True)} <= set(_changelog(changelog)), timeout=60
    ), agents.tail()
    time.sleep(TTL_SECONDS + 1)
    # Only one engine speaks again; the batch that takes its report sweeps the partition.
    kafka.produce(notify, [_report(SPEAKING, 1)], keys=[b"p"])
    assert wait_until(lambda: (SILENT, False) in _changelog(changelog), timeout=60), agents.tail()

    entries = _changelog(changelog)
    assert entries.count((SILENT, False)) == 1, entries
    assert (SPEAKING, False) not in entries, "the speaking engine kept its state"
    assert entries.index((SILENT, False)) > entries.index((SILENT, True))
    assert "dropped the state of 1 engine(s) silent for the TTL" in agents.log()
    agents.check()
