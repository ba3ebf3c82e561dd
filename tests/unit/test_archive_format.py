"""The archive topic's format: what the agents publish matches the published
JSON Schema, and the archiver's reader accepts exactly that."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest
from jsonschema import Draft202012Validator

from agents.pipeline import Accepted, CarryStore, handle
from enginewatch.core.points import ArchiveFormatError, Origin, decode_archive, encode_archive

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "enginewatch/core/schemas/archive-v1.schema.json").read_text())
GOLDEN = ROOT / "tests/golden/agents"


def _golden_archive_messages() -> list[bytes]:
    messages = []
    for folder in sorted(p for p in GOLDEN.iterdir() if p.is_dir()):
        carry: CarryStore = {}
        for offset, raw in enumerate((folder / "input.jsonl").read_bytes().split(b"\n")[:-1]):
            outcome = handle(raw, lambda _: "a model", carry)
            if isinstance(outcome, Accepted) and outcome.points:
                origin = Origin("notify", 0, offset)
                messages.append(encode_archive(outcome.points, origin))
    return messages


def test_every_golden_output_matches_the_schema_and_reads_back() -> None:
    Draft202012Validator.check_schema(SCHEMA)
    validator = Draft202012Validator(SCHEMA)
    messages = _golden_archive_messages()
    assert len(messages) > 50
    for message in messages:
        validator.validate(orjson.loads(message))
        points = decode_archive(message)
        assert (
            encode_archive(points, Origin("notify", 0, orjson.loads(message)["origin"]["offset"]))
            == message
        )


GOOD_POINT = {"measurement": "m", "tags": {}, "fields": {"a": 1.0}, "time": 1}


def _with_point(**changes: object) -> bytes:
    return orjson.dumps({"version": 1, "points": [{**GOOD_POINT, **changes}]})


@pytest.mark.parametrize(
    ("message", "error"),
    [
        (b"{", "not JSON"),
        (b"[]", "not a JSON object"),
        (b'{"version": 2, "points": []}', "unsupported archive version 2"),
        (b'{"version": 1}', "'points' is not a list"),
        (_with_point(measurement=""), "measurement"),
        (_with_point(tags={"a": 1}), "tags"),
        (_with_point(fields={}), "fields"),
        (_with_point(fields={"a": True}), "fields"),
        (_with_point(time=1.5), "time"),
    ],
)
def test_malformed_archive_messages_are_refused_with_a_reason(message: bytes, error: str) -> None:
    assert decode_archive(_with_point()), "the unchanged point is fine"
    with pytest.raises(ArchiveFormatError, match=error):
        decode_archive(message)
