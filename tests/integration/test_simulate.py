"""The simulated fleet through the real agents: every notification becomes archive
points for its named model, and not one dead letter."""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import orjson

from enginewatch.core.points import decode_archive
from enginewatch.harness import kafka
from enginewatch.harness.processes import Process as Worker
from enginewatch.harness.processes import run_enginewatch
from enginewatch.tools.model_streams import ROLES, ModelStreamsConfig, model_streams
from tests.support.services import ROOT, base_env

PARTITIONS = 4
FLEET = ["--engines", "3", "--rate", "300", "--duration", "8", "--seed", "9"]
START = ["--start", "2024-05-01T12:00:00Z"]


def enginewatch(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run_enginewatch(*args, env=env, cwd=ROOT)


def test_simulated_fleet_through_the_agents_without_dead_letters(
    workers: Callable[..., Worker], unique: Callable[[str], str], tmp_path: Path
) -> None:
    names = {role: unique(role) for role in ("notify", "archive", "dead")}
    engine_map = tmp_path / "engines.json"
    env = base_env(
        unique("app"),
        input_topic=names["notify"],
        archive_topic=names["archive"],
        dead_letter_topic=names["dead"],
        partitions=str(PARTITIONS),
    )
    # The map first: the agents read it when they start.
    recording = tmp_path / "fleet.jsonl"
    made = enginewatch(
        "simulate", *FLEET, *START, "--output", str(recording), "--map-out", str(engine_map),
        env=env,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    models = json.loads(engine_map.read_text(encoding="utf-8"))
    assert len(models) == 3
    expected = recording.read_bytes().splitlines()

    # The input exists before the agents start, or they would not subscribe to it.
    kafka.create_topic(names["notify"], PARTITIONS)
    agents = workers(["agents", "-l", "info"], {**env, "ENGINEWATCH_ENGINE_MAP": str(engine_map)})
    agents.wait_for_log("Ready")
    sent = enginewatch("simulate", *FLEET, *START, "--fast", env=env)
    assert sent.returncode == 0, sent.stderr
    assert f"sent {len(expected):,} notification(s)" in sent.stderr

    # Published as recorded, keyed by engine, each engine in order in its partition.
    published = kafka.consume(names["notify"], len(expected), timeout=60)
    assert sorted(r.value or b"" for r in published) == sorted(expected)
    for record in published:
        assert record.key == orjson.loads(record.value or b"")["src"].encode()
    for src in models:
        mine = [r for r in published if r.key == src.encode()]
        assert len({r.partition for r in mine}) == 1
        assert [r.value for r in mine] == [v for v in expected if orjson.loads(v)["src"] == src]

    # An archive message holds the points of one or more notifications of its engine.
    archive = kafka.consume(
        names["archive"],
        len(expected),
        timeout=120,
        settle=2,
        units=lambda record: len(decode_archive(record.value or b"")),
    )
    dead = kafka.consume(names["dead"], 0, timeout=30, settle=2)
    assert [orjson.loads(r.value or b"")["error"] for r in dead] == []
    points = [p for record in archive for p in decode_archive(record.value or b"")]
    assert len(points) == len(expected)  # every notification gives one point
    assert {(p.tags["engine"], p.tags["model"]) for p in points} == set(models.items())
    measurements = Counter(p.measurement for p in points)
    assert set(measurements) >= {
        "records", "record_bytes", "rejections", "jet_records", "system",
        "engine_status", "engine_events", "health", "engine_logs", "model_console",
        "jet_status",
    }  # fmt: skip
    # Rejections as the taps count them, and as the engines report the rejected data.
    sources = Counter(p.tags.get("source", "tap") for p in points if p.measurement == "rejections")
    assert set(sources) == {"tap", "report"}


def test_model_streams_beside_the_fleet(unique: Callable[[str], str]) -> None:
    notify, prefix = unique("notify"), unique("model")
    env = base_env(unique("app"), input_topic=notify, partitions="1")
    sent = enginewatch(
        "simulate", *FLEET, *START, "--fast", "--model-streams", prefix,
        "--streams-rate", "40", "--streams-align", "5", env=env,
    )  # fmt: skip
    assert sent.returncode == 0, sent.stderr
    config = ModelStreamsConfig(
        datetime(2024, 5, 1, 12, tzinfo=UTC), 8.0, rate=40.0, seed=9, align=5.0
    )
    wanted = list(model_streams(config))
    assert f"sent {len(wanted):,} model stream record(s) to {prefix}-*" in sent.stderr
    for role in ROLES:
        # One partition each: the stream in time order, keyed by record id.
        records = kafka.read_all(f"{prefix}-{role}")
        mine = [r for r in wanted if r.role == role]
        assert [(r.key, r.value) for r in records] == [(r.key, r.value) for r in mine]
        assert kafka.partitions(f"{prefix}-{role}") == [0]


def test_model_streams_need_a_duration(unique: Callable[[str], str]) -> None:
    env = base_env(unique("app"), input_topic=unique("notify"))
    refused = enginewatch("simulate", "--model-streams", unique("model"), env=env)
    assert refused.returncode == 2
    assert "--model-streams needs a --duration" in refused.stderr
