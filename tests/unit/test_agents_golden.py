"""Golden cases: tests/golden/agents/<case>/{input.jsonl, expected.jsonl[, map.json]}.

Each input line yields the expected line at the same position: the points it
becomes, or `{"rejected": "..."}` with a part of the dead-letter reason. The
lines of a case run in order through one carry store, as one engine stream.
A new case is a new folder.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agents.records import Input
from agents.resolve.resolver import UNKNOWN
from agents.stages import DeriveOutput, derive_archive
from enginewatch.core.points import Origin, decode_archive

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "agents"
CASES = sorted(path.name for path in GOLDEN.iterdir() if path.is_dir())


def _as_dicts(output: DeriveOutput) -> dict[str, Any]:
    if output.rejects:
        (reject,) = output.rejects
        return {"rejected": reject.reason}
    return {
        "points": [
            {
                "measurement": p.measurement,
                "tags": dict(p.tags),
                "fields": dict(p.fields),
                "time": p.time,
            }
            for _, value, _ in output.messages
            for p in decode_archive(value)
        ]
    }


@pytest.mark.parametrize("case", CASES)
def test_golden_case(case: str) -> None:
    folder = GOLDEN / case
    models: dict[str, str] = {}
    if (folder / "map.json").exists():
        models = json.loads((folder / "map.json").read_text(encoding="utf-8"))
    inputs = (folder / "input.jsonl").read_bytes().split(b"\n")[:-1]
    expected = (folder / "expected.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(inputs) == len(expected), "input and expected must have as many lines"
    # Line by line through the derive stage, its states kept after each, as in production.
    states: dict[str, Any] = {}
    for number, (raw, want_line) in enumerate(zip(inputs, expected, strict=True), start=1):
        record = Input(Origin("notify", 0, number), None, raw, {})
        output = derive_archive([record], lambda src: models.get(src, UNKNOWN), states)
        states.update({e: state.to_table(0, 0.0) for e, (_, state) in output.states.items()})
        got = _as_dicts(output)
        want = json.loads(want_line)
        if "rejected" in want:
            assert "rejected" in got, f"line {number}: expected a dead letter, got {got}"
            assert want["rejected"] in got["rejected"], f"line {number}: reason {got['rejected']!r}"
        else:
            assert got == want, f"line {number}"
            for point_got, point_want in zip(got["points"], want["points"], strict=True):
                for name, value in point_want["fields"].items():
                    # A field never changes type: 10.0 stays a float, code stays an int.
                    assert type(point_got["fields"][name]) is type(value), f"line {number}: {name}"
