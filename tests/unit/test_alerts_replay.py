"""`enginewatch alerts replay RECORDING`: a recording through the agents'
derivation and the alerts stage, offline, gives the worker's transitions."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from aiokafka.partitioner import DefaultPartitioner
from jsonschema import Draft202012Validator

from alerts import command
from alerts import replay as replay_module
from alerts.replay import partition_for, replay, report
from alerts.rules import Rules, load_rules, rules_from
from enginewatch.core.settings import load_settings
from enginewatch.tools.recording import read_values
from tests.support.alert_fleet import PARTS, RULES, T0_NS, TRANSITIONS, S, write_recording

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "alerts" / "schemas" / "alert-v1.schema.json").read_text())
FAULTS = ROOT / "tests" / "recordings" / "faults.jsonl"
DEFAULT_RULES = ROOT / "alerts" / "default-rules.yaml"


def _summary(transitions: list[dict[str, Any]]) -> list[tuple[str, str, str, str, int]]:
    return sorted(
        (t["alertname"], t["tags"]["engine"], t["previous"], t["state"], (t["time"] - T0_NS) // S)
        for t in transitions
    )


def test_the_recording_fires_and_resolves_what_it_should() -> None:
    rules = rules_from(yaml.safe_load(RULES))
    lines = [line for part in PARTS for line in part]
    result = replay(lines, rules, partitions=2)
    assert _summary(result.transitions) == sorted(TRANSITIONS)
    validator = Draft202012Validator(SCHEMA)
    for transition in result.transitions:
        validator.validate(transition)
    assert result.firing_at_end() == []
    assert (result.lines, result.dead_letters) == (len(lines), 0)
    # Half-way through, two alerts fire.
    halfway = replay(PARTS[0] + PARTS[1], rules, partitions=2)
    assert [(t["alertname"], t["tags"]["engine"]) for t in halfway.firing_at_end()] == [
        ("HighCPU", TRANSITIONS[1][1]),
        ("EngineError", TRANSITIONS[4][1]),
    ]


@pytest.mark.parametrize("partitions", [1, 4])
def test_the_transitions_do_not_depend_on_how_the_input_is_cut(partitions: int) -> None:
    """The faults recording (six engines, alerts firing and resolving, dead
    letters) gives the same transitions whatever the derive batches are."""
    rules = load_rules(DEFAULT_RULES)
    with FAULTS.open("rb") as stream:
        lines = list(read_values(stream))
    whole = replay(lines, rules, partitions)
    assert whole.dead_letters == 85
    assert len(whole.transitions) > 10
    by_line = replay_in_batches(lines, rules, partitions, size=7)
    assert sorted(map(_key, by_line)) == sorted(map(_key, whole.transitions))


def replay_in_batches(
    lines: list[bytes], rules: Rules, partitions: int, size: int
) -> list[dict[str, Any]]:
    saved = replay_module.BATCH
    replay_module.BATCH = size
    try:
        return replay(lines, rules, partitions).transitions
    finally:
        replay_module.BATCH = saved


def _key(transition: dict[str, Any]) -> bytes:
    # The origin (the archive message that caused it) depends on the cut; nothing else may.
    return orjson.dumps({**transition, "origin": None}, option=orjson.OPT_SORT_KEYS)


def test_partitions_are_the_producers() -> None:
    partitioner = DefaultPartitioner()
    for n in range(200):
        key = f"engine-{n}".encode()
        assert partition_for(key, 8) == partitioner(key, list(range(8)), list(range(8)))


def test_the_command_prints_the_transitions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recording = write_recording(tmp_path / "fleet.jsonl", [line for part in PARTS for line in part])
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES, encoding="utf-8")
    options = command.replay_parser().parse_args([str(recording), "--rules", str(rules)])
    assert command.replay_command(options, load_settings({})) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == len(TRANSITIONS) + 1
    assert out[1].startswith("2026-01-01T00:00:10Z  HighCPU  warning  pending -> firing (fires)")
    assert "CPU of unknown on 0e1e0e1e" in out[1]
    assert out[-1] == (
        f"{len(PARTS[0]) + len(PARTS[1]) + len(PARTS[2])} line(s), 0 dead letter(s), "
        "19 point(s) in 3 archive message(s); 7 transition(s), 3 alert(s) fired, 0 firing at "
        f"the end (2 rule(s) of {rules})"
    )
    options = command.replay_parser().parse_args([str(recording), "--rules", str(rules), "--json"])
    assert command.replay_command(options, load_settings({})) == 0
    lines = capsys.readouterr().out.splitlines()
    assert _summary([orjson.loads(line) for line in lines]) == sorted(TRANSITIONS)


def test_the_command_says_what_it_cannot_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = argparse.Namespace(
        recording=tmp_path / "none.jsonl", rules=None, partitions=None, engine_map=None, json=False
    )
    assert command.replay_command(missing, load_settings({})) == 1
    assert "cannot read" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules: []\n", encoding="utf-8")
    options = command.replay_parser().parse_args([str(missing.recording), "--rules", str(bad)])
    assert command.replay_command(options, load_settings({})) == 1
    assert capsys.readouterr().err.startswith(f"enginewatch alerts replay: {bad}: rules: ")


def test_report_lists_what_still_fires() -> None:
    rules = rules_from(yaml.safe_load(RULES))
    text = report(replay(PARTS[0], rules, 2), rules)
    assert "firing at the end of the recording:" in text
    assert "  EngineError  engine=0e2e0e2e-2222-4222-8222-000000000002 model=unknown" in text
