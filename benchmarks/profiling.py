"""Where an agents worker's CPU time goes, per event, sampled from outside with py-spy.

py-spy reads the worker's stacks 1 000 times a second without stopping it and
keeps only the samples where the worker was running (not waiting for I/O), so
the shares are of CPU time. A sample is counted for the package of its
innermost Python frame (time in C extensions such as orjson or uvloop counts
for the Python function that called them), and separately for whether our own
code is anywhere on the stack.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import kafkaio
from benchmarks.measure import start_and_settle
from benchmarks.procs import ROOT
from benchmarks.session import Session, enginewatch
from benchmarks.workload import Expected, Recording

RATE = 1000  # samples per second
# First match wins: (label, substrings of a frame's "function (file:line)").
CATEGORIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    # uvloop's C loop runs inside mode's worker, so its own time shows there.
    ("event loop (uvloop, C)", ("execute_from_commandline",)),
    ("agents: wiring (agents/app.py)", ("/agents/app.py",)),
    (
        "enginewatch: bulk input (faust_private, bulk)",
        ("/enginewatch/core/faust_private.py", "/enginewatch/core/bulk.py"),
    ),
    ("agents: parse, derive, resolve", ("/agents/",)),
    ("enginewatch: archive format", ("/enginewatch/",)),
    ("faust", ("/faust/",)),
    ("mode (Faust's services)", ("/mode/",)),
    ("aiokafka", ("/aiokafka/",)),
    ("asyncio", ("/asyncio/",)),
)
OTHER = "other (standard library, weakref, logging, ...)"
# The pure pipeline: everything of ours but the Faust wiring, under which all
# of Faust's stream machinery runs too.
OURS = ("/agents/stages.py", "/agents/pipeline.py", "/enginewatch/core/points.py")


# The profile of the agents before their input came in bulk, kept for the report.
BEFORE = Path(__file__).with_name("profile_before.json")


def profile_before() -> dict[str, Any]:
    """The committed profile from before the bulk input (benchmarks/profile_before.json)."""
    before: dict[str, Any] = json.loads(BEFORE.read_text())
    return before


@dataclass(frozen=True)
class Profile:
    events: int
    samples: int
    cpu_us_per_event: float  # all sampled CPU time, per event
    by_package: dict[str, float]  # microseconds per event, innermost frame's package
    ours_inclusive: float  # microseconds per event with our own code on the stack
    top: list[tuple[str, float]]  # innermost functions, microseconds per event


def profile_agents(
    session: Session, recording: Recording, expected: Expected, engine_map: Path
) -> Profile:
    output = session.workdir / f"{session.name('profile')}.txt"
    topic, archive = session.topic("notify"), session.topic("archive")
    env = session.env(
        session.name("app"),
        input_topic=topic,
        archive_topic=archive,
        dead_letter_topic=session.topic("dead", partitions=1),
        engine_map=str(engine_map),
        input_keyed_by_engine="true",
    )
    argv = enginewatch("agents", "-l", "info")
    (worker,) = start_and_settle(session, "agents (keyed input)", [argv], env, topic)
    spy = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("py-spy")),
            *("record", "--format", "raw", "--full-filenames", "--nonblocking"),
            *("--rate", str(RATE)),
            *("--pid", str(worker.pid), "--output", str(output)),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        asyncio.run(kafkaio.produce(topic, recording.values, recording.keys))
        asyncio.run(
            kafkaio.collect_output(
                archive, len(expected.points), kafkaio.archive_points, session.scale.timeout
            )
        )
    finally:
        spy.send_signal(signal.SIGINT)  # py-spy writes what it sampled and exits
        spy.wait(30)
        session.stop(worker)
    return summarise(output.read_text(), len(recording))


def summarise(raw: str, events: int) -> Profile:
    """py-spy's raw format: one line per distinct stack, root first, then its sample count."""
    by_package: Counter[str] = Counter()
    by_function: Counter[str] = Counter()
    ours = total = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        leaf = frames[-1]
        total += count
        by_package[_category(leaf)] += count
        by_function[_short(leaf)] += count
        if any(mark in frame for frame in frames for mark in OURS):
            ours += count
    per_event = 1e6 / RATE / events
    return Profile(
        events=events,
        samples=total,
        cpu_us_per_event=total * per_event,
        by_package={k: v * per_event for k, v in by_package.most_common()},
        ours_inclusive=ours * per_event,
        top=[(name, count * per_event) for name, count in by_function.most_common(12)],
    )


def _category(frame: str) -> str:
    return next((label for label, marks in CATEGORIES if any(m in frame for m in marks)), OTHER)


def _short(frame: str) -> str:
    """`function (…/site-packages/faust/streams.py:1171)` -> `function (faust/streams.py:1171)`."""
    name, _, where = frame.partition(" (")
    for anchor in ("site-packages/", f"{ROOT}/", "/lib/python3."):
        if anchor in where:
            where = where.split(anchor, 1)[1]
            if anchor.startswith("/lib/python3."):
                where = where.split("/", 1)[-1]  # drop the rest of the version
            break
    return f"{name} ({where}" if where else name
