"""Golden cases: tests/golden/monitors/<case>/{monitors.yaml, records.jsonl, expected.jsonl}.

Each line of records.jsonl is one record of a monitored topic through both
stages (monitors.stage.intake, then evaluate), as its own batch, or an event
between batches (tests/golden/monitors/README.md has the format).
expected.jsonl lists every point the case gives, in order; dead_letters.jsonl
(where there is one) every dead letter's offset and reason. The states live
in a dict standing for the table; a restart sends them through JSON, as the
changelog does. The same records as one batch, without the events, must give
the same points. A new case is a new folder.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from enginewatch.core.points import Origin, decode_archive
from monitors.config import load_monitors
from monitors.records import readers
from monitors.reference import load_references
from monitors.stage import MonitorsOutput, ObservationInput, RecordInput, evaluate, intake

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden" / "monitors"
CASES = sorted(path.name for path in GOLDEN.iterdir() if path.is_dir())
S = 1_000_000_000
T0 = 1_767_225_600 * S  # 2026-01-01T00:00:00Z: `t` counts seconds from it
INTERNAL = "observations"


def _lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _round(value: Any) -> Any:
    return round(value, 9) if isinstance(value, float) else value


def spelt(output: MonitorsOutput) -> list[dict[str, Any]]:
    """The points as expected.jsonl spells them: times in seconds from T0,
    without the tags every point of a case shares (`model`, `window`)."""
    points = [p for _, value in output.points for p in decode_archive(value)]
    for p in points:
        if p.measurement == "monitor_state":
            # The state's size follows the sketches' serial format: only its bound is checked.
            size = p.fields["bytes"]
            assert isinstance(size, int)
            assert 0 < size < 1_000_000
    return [
        {
            "m": p.measurement,
            "tags": {k: v for k, v in p.tags.items() if k not in ("model", "window")},
            "t": (p.time - T0) / S,
            "fields": {
                k: _round(v)
                for k, v in p.fields.items()
                if (p.measurement, k) != ("monitor_state", "bytes")
            },
        }
        for p in points
    ]


class Pipeline:
    """Both stages over a dict standing for the table, the observations topic
    one partition (its offsets count up)."""

    def __init__(self, folder: Path) -> None:
        self.monitors = load_monitors(folder / "monitors.yaml")
        self.references = load_references(self.monitors)
        self.readers = readers(self.monitors)
        self.states: dict[str, Any] = {}
        self.offset = 0
        self.dead_letters: list[dict[str, Any]] = []

    def run(self, records: list[RecordInput]) -> list[dict[str, Any]]:
        taken = intake(records, self.readers)
        self.dead_letters += [orjson.loads(d) for d in taken.dead_letters]
        batch = []
        for _, value in taken.observations:
            batch.append(ObservationInput(Origin(INTERNAL, 0, self.offset), value))
            self.offset += 1
        output = evaluate(batch, self.monitors, self.states, self.references)
        for key, (_, state) in output.states.items():
            self.states[key] = state
        return spelt(output)

    def restart(self) -> None:
        self.states = orjson.loads(orjson.dumps(self.states))


def record_inputs(lines: list[dict[str, Any]]) -> list[RecordInput | dict[str, Any]]:
    """Each record line as a RecordInput (offsets per topic and partition), events as they are."""
    offsets: dict[tuple[str, int], int] = {}
    result: list[RecordInput | dict[str, Any]] = []
    for line in lines:
        if "topic" not in line:
            result.append(line)
            continue
        partition = line.get("partition", 0)
        where = (line["topic"], partition)
        offset = offsets.get(where, 0)
        offsets[where] = offset + 1
        raw = line["raw"].encode() if "raw" in line else orjson.dumps(line["value"])
        timestamp = T0 + round(line.get("t", 0) * S)
        result.append(RecordInput(Origin(line["topic"], partition, offset), timestamp, raw))
    return result


@pytest.mark.parametrize("case", CASES)
def test_golden_case(case: str) -> None:
    folder = GOLDEN / case
    inputs = record_inputs(_lines(folder / "records.jsonl"))
    pipeline = Pipeline(folder)
    sent: list[RecordInput] = []
    got: list[dict[str, Any]] = []
    for item in inputs:
        if isinstance(item, RecordInput):
            sent.append(item)
            got += pipeline.run([item])
        elif "restart" in item:
            pipeline.restart()
        elif "redeliver" in item:
            # A redelivered record's dead letter comes again (README, guarantees): not counted here.
            kept = len(pipeline.dead_letters)
            assert pipeline.run(sent[-item["redeliver"] :]) == [], "a redelivery gave points"
            del pipeline.dead_letters[kept:]
    assert got == _lines(folder / "expected.jsonl")
    wanted = [
        {"topic": d["topic"], "offset": d["offset"], "error": d["error"]}
        for d in pipeline.dead_letters
    ]
    assert wanted == _lines(folder / "dead_letters.jsonl")
    # The same records as one batch give the same points: batches change nothing
    # but the `monitor_state` reports, one per batch that closed a window.
    whole = Pipeline(folder)
    assert _windows(whole.run(sent)) == _windows(got)


def _windows(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [p for p in points if p["m"] != "monitor_state"]
