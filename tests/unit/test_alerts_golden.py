"""Golden cases: tests/golden/alerts/<case>/{rules.yaml, points.jsonl, expected.jsonl}.

Each line of points.jsonl is one archive message through the alerts stage
(alerts.stage.evaluate), as its own batch, or an event between batches
(tests/golden/alerts/README.md has the format). expected.jsonl lists every
transition the case gives, in order. The states live in a dict standing for
the table, updated after each batch as the worker updates its table; a
restart sends them through JSON, as the changelog does. A new case is a new
folder.
"""

from __future__ import annotations

import itertools
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import orjson
import pytest
from jsonschema import Draft202012Validator

from alerts.rules import load_rules
from alerts.stage import AlertsOutput, ArchiveInput, evaluate, tick
from enginewatch.core.points import Origin, Point, decode_archive, encode_archive

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden" / "alerts"
CASES = sorted(path.name for path in GOLDEN.iterdir() if path.is_dir())
SCHEMA = json.loads((ROOT / "alerts" / "schemas" / "alert-v1.schema.json").read_text())
VALIDATOR = Draft202012Validator(SCHEMA)

S = 1_000_000_000
T0 = 1_767_225_600 * S  # 2026-01-01T00:00:00Z: `t` counts seconds from it
WALL = 1_000_000.0  # the wall clock of the first batch; only `idle` moves it
IDLE = 60.0  # ENGINEWATCH_ALERTS_IDLE's default
TOPIC = "archive"


def _point(spec: dict[str, Any]) -> Point:
    tags = {"engine": spec["engine"], "model": spec.get("model", "m1"), **spec.get("tags", {})}
    return Point(spec["measurement"], tags, spec["fields"], T0 + round(spec["t"] * S))


def _seconds(ns: int | None) -> float | int | None:
    if ns is None:
        return None
    seconds = (ns - T0) / S
    return int(seconds) if seconds == int(seconds) else seconds


def _seen(output: AlertsOutput) -> list[dict[str, Any]]:
    """The transitions as expected.jsonl spells them, after checking each against
    the schema and against its `alerts` point."""
    transitions = [orjson.loads(value) for _, value in output.transitions]
    points = [p for _, value in output.points for p in decode_archive(value)]
    assert len(points) == len(transitions)
    for (key, _), message in zip(output.transitions, transitions, strict=True):
        VALIDATOR.validate(message)
        assert key == message["fingerprint"].encode()
    by_series = defaultdict(list)
    for point in points:
        by_series[point.tags["engine"]].append(point)
    for message in transitions:
        point = next(
            p
            for p in by_series[message["tags"]["engine"]]
            if p.time == message["time"]
            and p.tags["alertname"] == message["alertname"]
            and p.fields["state"] == message["state"]
        )
        assert point.tags == {
            **message["tags"],
            "alertname": message["alertname"],
            "severity": message["severity"],
        }
        assert point.fields["firing"] == int(message["firing"])
        if isinstance(message["value"], int | float):
            assert point.fields["value"] == float(message["value"])
    return [_spelt(m) for m in transitions]


def _spelt(message: dict[str, Any]) -> dict[str, Any]:
    """A transition as expected.jsonl spells it: times in seconds from T0, and
    the rule's own labels only where it has some."""
    spelt: dict[str, Any] = {"alert": message["alertname"]}
    own = {
        k: v
        for k, v in message["labels"].items()
        if k not in ("alertname", "severity") and k not in message["tags"]
    }
    if own:
        spelt["labels"] = own
    return {
        **spelt,
        "tags": message["tags"],
        "previous": message["previous"],
        "state": message["state"],
        "t": _seconds(message["time"]),
        "value": message["value"],
        "firing": message["firing"],
        "fired_at": _seconds(message["fired_at"]),
        "sequence": message["sequence"],
    }


def _keep(states: dict[str, Any], output: AlertsOutput) -> None:
    for key, (_, value) in output.states.items():
        if value is None:
            states.pop(key, None)
        else:
            states[key] = value


@pytest.mark.parametrize("case", CASES)
def test_golden_case(case: str) -> None:
    folder = GOLDEN / case
    rules = load_rules(folder / "rules.yaml")
    lines = [
        json.loads(line) for line in (folder / "points.jsonl").read_text().splitlines() if line
    ]
    expected = [
        json.loads(line) for line in (folder / "expected.jsonl").read_text().splitlines() if line
    ]
    states: dict[str, Any] = {}
    sent: list[ArchiveInput] = []
    offsets: dict[int, int] = defaultdict(int)
    wall = WALL
    got: list[dict[str, Any]] = []
    for number, line in enumerate(lines, start=1):
        if "restart" in line or "rules" in line:
            # What the changelog gives back: JSON, nothing of the earlier process.
            states = orjson.loads(orjson.dumps(states))
            if "rules" in line:
                rules = load_rules(folder / line["rules"])
            continue
        if "idle" in line:
            wall += line["idle"]
            output = tick(TOPIC, sorted(offsets), rules, states, wall, IDLE)
        elif "redeliver" in line:
            output = evaluate(sent[-line["redeliver"] :], rules, states, wall)
            assert output.counts.redelivered > 0, f"line {number}: nothing was skipped"
        else:
            specs = line.get("points", [line])
            partition = line.get("partition", 0)
            record = ArchiveInput(
                Origin(TOPIC, partition, offsets[partition]),
                encode_archive([_point(spec) for spec in specs]),
            )
            offsets[partition] += 1
            sent.append(record)
            output = evaluate([record], rules, states, wall)
        got.extend(_seen(output))
        _keep(states, output)
    assert got == expected
    # Per series, the sequence numbers count up from 1 without a gap.
    sequences: dict[str, list[int]] = defaultdict(list)
    for transition in got:
        series = {k: transition.get(k) for k in ("alert", "labels", "tags")}
        sequences[json.dumps(series, sort_keys=True)].append(transition["sequence"])
    for series, numbers in sequences.items():
        lives = [n for n in numbers if n == 1]  # a forgotten series starts again at 1
        assert lives, series
        for before, after in itertools.pairwise(numbers):
            assert after in (before + 1, 1), f"{series}: {numbers}"
