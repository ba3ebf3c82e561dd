"""The agents through the real broker: the golden cases, each as one engine's
recording in its own input partition, replayed into the input topic, come out
as exactly the expected archive points and one dead letter per bad line, with
one worker, with two workers sharing a 4-partition input, and with an input
already keyed by engine."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from agents.state import carried_changelog
from enginewatch.core.deadletters import original_value
from enginewatch.core.points import decode_archive
from enginewatch.harness import kafka
from enginewatch.harness.processes import Process as Worker
from enginewatch.harness.processes import run_enginewatch
from tests.support.services import base_env
from tests.support.waiting import wait_until

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "agents"
PARTITIONS = 4


def _engine(case: str) -> str:
    return f"{case}-engine"


def _load_cases() -> tuple[
    list[tuple[int, bytes, str]], list[dict[str, Any]], list[bytes], dict[str, str]
]:
    """(partition, value, engine) per input line; expected points; bad lines; the engine map."""
    lines, points, bad, models = [], [], [], {}
    for index, folder in enumerate(sorted(p for p in GOLDEN.iterdir() if p.is_dir())):
        engine = _engine(folder.name)
        if (folder / "map.json").exists():
            for model in json.loads((folder / "map.json").read_text(encoding="utf-8")).values():
                models[engine] = model
        inputs = (folder / "input.jsonl").read_bytes().split(b"\n")[:-1]
        expected = (folder / "expected.jsonl").read_text(encoding="utf-8").splitlines()
        for raw, want in zip(inputs, expected, strict=True):
            value = raw.replace(b'"src":"e1"', b'"src":"' + engine.encode() + b'"')
            lines.append((index % PARTITIONS, value, engine))
            outcome = json.loads(want)
            if "rejected" in outcome:
                bad.append(value)
            for point in outcome.get("points", []):
                if point["tags"]["engine"] == "e1":
                    point["tags"]["engine"] = engine
                points.append(point)
    return lines, points, bad, models


def _points_in(record: kafka.Record) -> int:
    """An archive message holds the points of one or more messages of its engine."""
    return len(decode_archive(record.value or b""))


def _canonical(point: dict[str, Any]) -> str:
    return json.dumps(point, sort_keys=True)


@pytest.mark.parametrize(("workers_count", "keyed"), [(1, False), (2, False), (1, True)])
def test_recording_through_the_agents(
    workers: Callable[..., Worker],
    unique: Callable[[str], str],
    tmp_path: Path,
    workers_count: int,
    keyed: bool,
) -> None:
    lines, expected_points, bad_lines, models = _load_cases()
    names = {role: unique(role) for role in ("notify", "archive", "dead")}
    kafka.create_topic(names["notify"], PARTITIONS)
    engine_map = tmp_path / "engines.json"
    engine_map.write_text(json.dumps(models), encoding="utf-8")
    env = base_env(
        unique("app"),
        input_topic=names["notify"],
        archive_topic=names["archive"],
        dead_letter_topic=names["dead"],
        engine_map=str(engine_map),
        partitions=str(PARTITIONS),
        input_keyed_by_engine="true" if keyed else "false",
    )
    # The group settles before the input arrives: a rebalance mid-stream would
    # replay uncommitted messages (at-least-once), which is not what this tests.
    started = [
        workers(["agents", "-l", "info"], env, name=f"agents-{n}") for n in range(workers_count)
    ]
    for worker in started:
        worker.wait_for_log("Ready")
    # The last to join was given a share of the input, so the work is really shared.
    started[-1].wait_for_log(f"| {names['notify']} ")
    if keyed:
        # Keyed by engine, the default partitioner decides where each engine lives.
        kafka.produce(
            names["notify"], [v for _, v, _ in lines], keys=[e.encode() for _, _, e in lines]
        )
    else:
        for partition in range(PARTITIONS):
            kafka.produce(
                names["notify"], [v for p, v, _ in lines if p == partition], partition=partition
            )

    archive = kafka.consume(
        names["archive"], count=len(expected_points), timeout=120, settle=3, units=_points_in
    )
    dead = kafka.consume(names["dead"], count=len(bad_lines), timeout=30, settle=2)

    got_points = [
        {
            "measurement": p.measurement,
            "tags": dict(p.tags),
            "fields": dict(p.fields),
            "time": p.time,
        }
        for record in archive
        for p in decode_archive(record.value or b"")
    ]
    assert sorted(map(_canonical, got_points)) == sorted(map(_canonical, expected_points))

    # Archive messages are keyed by engine, and each engine's points keep their order.
    by_engine: dict[str, list[int]] = defaultdict(list)
    for record in archive:
        points = decode_archive(record.value or b"")
        assert record.key == points[0].tags["engine"].encode()
        by_engine[points[0].tags["engine"]].append(
            orjson.loads(record.value or b"")["origin"]["offset"]
        )
    for engine, offsets in by_engine.items():
        assert offsets == sorted(offsets), f"{engine}: points out of order"

    # One dead letter per bad line, with its reason and where it came from.
    letters = [orjson.loads(record.value or b"") for record in dead]
    assert sorted(original_value(letter) or b"" for letter in letters) == sorted(bad_lines)
    sent = {
        (p, offset): v
        for p in range(PARTITIONS)
        for offset, v in enumerate([v for q, v, _ in lines if q == p] if not keyed else [])
    }
    for letter in letters:
        assert letter["error"]
        assert letter["stage"] == "agents"
        assert letter["topic"] == names["notify"]
        if not keyed:
            assert sent[(letter["partition"], letter["offset"])] == original_value(letter)

    # The model an engine's output report named, kept in the agents' table, as
    # `enginewatch resolve --reported` reads it back from the changelog.
    expected_reported = {"reporter": {"model": "churn v3", "source": "output-report"}}
    assert wait_until(lambda: _reported(env) == expected_reported, timeout=30), _changelog(env)


def _reported(env: dict[str, str]) -> dict[str, Any]:
    """What `enginewatch resolve --reported` lists as reported by the engines (the
    engines a configured source names are not among them)."""
    return {k: v for k, v in _resolved(env).items() if v["source"] == "output-report"}


def _changelog(env: dict[str, str]) -> list[tuple[str, object]]:
    """Every record of the agents' table changelog, as ("partition:offset key", model):
    what a failure of `_reported` needs to tell a lost write from a wrong one."""
    return [
        (f"{r.partition}:{r.offset} {r.key!r}", r.value and orjson.loads(r.value).get("model"))
        for r in kafka.read_all(carried_changelog(env["ENGINEWATCH_APP_ID"]))
    ]


def _resolved(env: dict[str, str]) -> dict[str, Any]:
    done = run_enginewatch("resolve", "--reported", "--json", env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    resolved: dict[str, Any] = json.loads(done.stdout)
    return resolved


def test_a_keyed_input_with_another_partition_count_refuses_the_start(
    workers: Callable[..., Worker], unique: Callable[[str], str]
) -> None:
    notify = unique("notify")
    kafka.create_topic(notify, 3)
    env = base_env(
        unique("app"),
        input_topic=notify,
        archive_topic=unique("archive"),
        dead_letter_topic=unique("dead"),
        partitions="4",
        input_keyed_by_engine="true",
    )
    worker = workers(["agents"], env, name="agents")
    assert worker.wait(60) == 2
    assert (
        f"enginewatch agents: ENGINEWATCH_INPUT_KEYED_BY_ENGINE: the input topic {notify!r} "
        "has 3 partition(s), ENGINEWATCH_PARTITIONS is 4; they must be equal"
    ) in worker.log()
