"""Every message type of the engines' bus through the real agents.

tests/recordings/bus.jsonl holds a simulated minute of three engines (seed 1)
and then, hand-written, every form of every type of the README's metric
reference the simulator does not send, a type the agents do not know, and
invalid lines among them. Replayed through the real agents (route and derive
hops, on the local Kafka), exactly the invalid lines become dead letters, and
the archive points are those `agents.stages.derive_archive` gives for the
recording, value by value and in each engine's order.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import orjson

from agents.records import Input
from agents.resolve.resolver import UNKNOWN
from agents.stages import derive_archive
from enginewatch.core.deadletters import original_value
from enginewatch.core.points import Origin, Point, decode_archive
from enginewatch.harness import kafka
from enginewatch.harness.processes import Process as Worker
from enginewatch.harness.processes import run_enginewatch
from enginewatch.tools.fleet import build_fleet, engine_map
from tests.support.services import ROOT, base_env

RECORDING = ROOT / "tests" / "recordings" / "bus.jsonl"
PARTITIONS = 4
H1 = "6b1f0c3e-0d5a-4e47-9a59-0e8c1b2a3d01"  # hand-written, in the map
H2 = "6b1f0c3e-0d5a-4e47-9a59-0e8c1b2a3d02"  # hand-written, named by its output report
ENGINE_MAP = {**engine_map(build_fleet(3, seed=1)), H1: "bus check"}

# Each invalid line of the recording, in its order, by the start of its reason.
DEAD = (
    "not JSON",  # blanks, in the simulated minute
    "not JSON",  # truncated JSON
    "not a JSON object but null",
    "not JSON",  # text
    "not UTF-8 text",
    "not JSON",  # an empty line
    "not a JSON object but an array",
    "missing field 'type'",
    "unknown message type '' is empty",
    "missing field 'src'",
    "field 'timestamp': not an RFC 3339 timestamp",
    "field 'delta_time' must be >= 0",
    "tap 'manifold.0.records.count' needs numeric data, got a boolean",
    "field 'item' ends with a backslash",
    "missing field 'health'",
    "missing field 'jets'",
    "field 'jets' must be an array",
    "field 'jets[0]' must be an object",
    "field 'jets[0].pid' must be a non-negative integer",
    "field 'jets[0].busy' must be a boolean",
    "field 'jets[0].memory' must be a number",
    "field 'jets[0].total_consumed' must be >= 0",
    "field 'model' must be a string",
    "field 'outputs' must be an array",
    "field 'skipped' must be >= 0",
    "field 'reason' is empty",
    "field 'slot' must be a non-negative integer, got -2",
    "field 'slot' must be a non-negative integer, got True",
    "field 'direction' must be 'input' or 'output'",
    "field 'count' must be >= 0",
    "field 'last' must be a boolean, got a string",
    "field 'last' must be a boolean, got a number",
)
MEASUREMENTS = {
    "records", "record_bytes", "rejections", "jet_records", "system", "sensor",
    "engine_status", "engine_events", "health", "engine_logs", "model_console",
    "jet_status", "model_outputs", "engine_messages",
}  # fmt: skip
TYPES = {
    "sensor-report", "engine-state", "engine-config", "health", "log", "model-console",
    "jet-status-report", "output-report", "rejected-data-report", "output-eof",
}  # fmt: skip


def model_for(src: str) -> str:
    return ENGINE_MAP.get(src, UNKNOWN)


def recording_lines() -> list[bytes]:
    return RECORDING.read_bytes().split(b"\n")[:-1]


def derived() -> tuple[list[Point], list[tuple[bytes | None, str]]]:
    """What the derive stage gives for the whole recording: its points, and its rejects
    (value, reason) in the recording's order."""
    inputs = [Input(Origin("notify", 0, i), None, v, None) for i, v in enumerate(recording_lines())]
    output = derive_archive(inputs, model_for, {})
    points = [p for _, value, _ in output.messages for p in decode_archive(value)]
    return points, [(r.value, r.reason) for r in output.rejects]


def by_engine(points: list[Point]) -> dict[str, list[Point]]:
    mine: dict[str, list[Point]] = {}
    for point in points:
        mine.setdefault(point.tags["engine"], []).append(point)
    return mine


def test_the_recording_holds_every_type_and_measurement() -> None:
    points, rejects = derived()
    kinds = set()
    for line in recording_lines():
        try:
            message = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if isinstance(message, dict) and isinstance(message.get("type"), str):
            kinds.add(message["type"])
    assert kinds > TYPES  # and types the agents do not know
    assert {p.measurement for p in points} == MEASUREMENTS
    assert len(rejects) == len(DEAD)
    for (_, reason), expected in zip(rejects, DEAD, strict=True):
        assert reason.startswith(expected), (reason, expected)
    # The unmapped engine is unknown until its output report names its model.
    assert [p.tags["model"] for p in by_engine(points)[H2]] == [
        UNKNOWN,
        "named by report",
        "named by report",
        "named by report",
    ]


def test_every_bus_message_through_the_real_agents(
    workers: Callable[..., Worker], unique: Callable[[str], str], tmp_path: Path
) -> None:
    points, rejects = derived()
    names = {role: unique(role) for role in ("notify", "archive", "dead")}
    engine_map_file = tmp_path / "engines.json"
    engine_map_file.write_text(json.dumps(ENGINE_MAP, ensure_ascii=False), encoding="utf-8")
    env = base_env(
        unique("app"),
        input_topic=names["notify"],
        archive_topic=names["archive"],
        dead_letter_topic=names["dead"],
        partitions=str(PARTITIONS),
    )
    kafka.create_topic(names["notify"], PARTITIONS)
    agents = workers(
        ["agents", "-l", "info"], {**env, "ENGINEWATCH_ENGINE_MAP": str(engine_map_file)}, "agents"
    )
    agents.wait_for_log("Ready")
    command = ["replay", str(RECORDING), "--topic", names["notify"], "--key", "src"]
    replay = run_enginewatch(*command, env=env, cwd=ROOT)
    assert replay.returncode == 0, replay.stderr
    assert f"replayed {len(recording_lines()):,} message(s)" in replay.stderr

    archive = kafka.consume(
        names["archive"],
        len(points),
        timeout=120,
        settle=2,
        units=lambda record: len(decode_archive(record.value or b"")),
    )
    dead = kafka.consume(names["dead"], len(rejects), timeout=60, settle=2)

    # Exactly the invalid lines are dead letters, each with the derive stage's reason.
    letters = [orjson.loads(record.value or b"") for record in dead]
    assert Counter((original_value(d), d["error"]) for d in letters) == Counter(rejects)
    assert {d["stage"] for d in letters} == {"agents"}

    # The archive holds the derive stage's points, value by value, in each engine's order.
    got = [p for record in archive for p in decode_archive(record.value or b"")]
    assert len(got) == len(points)
    assert by_engine(got) == by_engine(points)
    for record in archive:
        (engine,) = {p.tags["engine"] for p in decode_archive(record.value or b"")}
        assert record.key == engine.encode()
