"""`enginewatch archiver` end to end: archive topic -> InfluxDB 1.x and files, and dead letters."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import orjson
import requests

from archiver.lineprotocol import encode_point
from enginewatch.core.points import Point
from enginewatch.harness import influx, kafka
from enginewatch.harness.processes import Process as Worker
from tests.support import archive
from tests.support.services import INFLUX_URL, base_env
from tests.support.waiting import wait_until


def file_lines(directory: Path) -> list[str]:
    """The points in the files. String fields may hold line breaks, so a point
    ends at a line break after its (19-digit) timestamp."""
    lines: list[str] = []
    for path in sorted(directory.glob("archive-*.lp*")):
        lines.extend(re.split(r"(?<= \d{19})\n", path.read_text())[:-1])
    return lines


def test_both_archivers_write_every_point_and_dead_letter_the_rest(
    workers: Callable[..., Worker],
    unique: Callable[[str], str],
    database: str,
    tmp_path: Path,
) -> None:
    topic, dead_topic = unique("archive"), unique("dead")
    kafka.create_topic(topic, partitions=3)
    kafka.create_topic(dead_topic)
    # The field `value` of `sensor` is a float in this database before we start,
    # so the string sent below conflicts whatever the order of partitions.
    influx.create_database(database)
    existing = Point(
        "sensor", {"engine": "other", "model": "m", "tap": "t"}, {"value": 1.0}, archive.T0
    )
    response = requests.post(
        f"{INFLUX_URL}/write", params={"db": database}, data=encode_point(existing), timeout=30
    )
    assert response.status_code == 204

    messages = archive.sample_messages(400)
    poison = Point(
        "sensor",
        {"engine": archive.ENGINES[0], "model": "m", "tap": "t"},
        {"value": "hot"},
        archive.T0 + 7,
    )
    messages.insert(123, [poison])
    archive.produce_messages(topic, messages)
    kafka.produce(topic, [b"not json", b'{"version": 1, "points": "none"}'], keys=[b"x", b"y"])

    env = base_env(
        unique("app"),
        archive_topic=topic,
        dead_letter_topic=dead_topic,
        influx_bucket=database,
        batch_points="100",
        batch_seconds="0.2",
    )
    env["APP_DATADIR"] = str(tmp_path / "faust")  # Faust's own directory, out of the repo
    files = tmp_path / "files"
    influx_archiver = workers(["archiver", "-l", "info"], env, name="archiver")
    file_archiver = workers(
        ["archiver", "--sink", "file", "--dir", str(files), "-l", "info"], env, name="archiver-file"
    )

    good = [p for points in messages for p in points if p is not poison]
    expected = archive.keys_of([*good, existing])
    assert wait_until(lambda: archive.count_in(INFLUX_URL, database) >= len(expected))
    found = archive.points_in(INFLUX_URL, database)
    assert len(found) == len(expected)
    assert set(found) == expected

    assert archive.field_types(INFLUX_URL, database) == {
        ("records", "count"): "float",
        ("records", "rps"): "float",
        ("engine_status", "code"): "integer",
        ("engine_status", "state"): "string",
        ("health", "ok"): "integer",
        ("health", "health"): "string",
        ("engine_logs", "text"): "string",
        ("sensor", "value"): "float",
    }

    # The file archiver has its own group and pace, and takes the poison point too.
    all_lines = [encode_point(p) for points in messages for p in points]
    assert wait_until(lambda: len(file_lines(files)) >= len(all_lines))
    assert Counter(file_lines(files)) == Counter(all_lines)

    # Dead letters: the poison point from the InfluxDB archiver, the two
    # malformed messages from each archiver.
    values = [record.value for record in kafka.consume(dead_topic, 5, settle=1.0)]
    letters = [orjson.loads(value) for value in values if value is not None]
    assert len(letters) == 5
    assert all(letter["stage"] == "archiver" and letter["topic"] == topic for letter in letters)
    (rejected,) = [letter for letter in letters if "field type conflict" in letter["error"]]
    assert rejected["value"] == encode_point(poison)
    assert rejected["value_encoding"] == "utf-8"
    assert Counter(letter["value"] for letter in letters if letter is not rejected) == {
        "not json": 2,
        '{"version": 1, "points": "none"}': 2,
    }
    malformed_offsets = {
        (letter["partition"], letter["offset"]) for letter in letters if letter is not rejected
    }
    assert len(malformed_offsets) == 2

    log = influx_archiver.log()
    assert "using the v1 write API" in log
    assert "batch messages=" in log
    assert " points=" in log
    assert " retries=0" in log
    assert "batch messages=" in file_archiver.log()
    assert influx_archiver.running()
    assert file_archiver.running()
