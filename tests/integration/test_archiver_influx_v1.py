"""The v1 sink and the delivery loop against the real InfluxDB 1.x: no Kafka needed."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archiver.batch import Record, Reject
from archiver.delivery import BatchReport, Delivery
from archiver.influx_v1 import InfluxV1Sink
from archiver.lineprotocol import LineProtocolError, encode_point
from archiver.sink import ConfigurationError
from archiver.startup import prepare
from enginewatch.core.points import Origin, Point, encode_archive
from enginewatch.core.settings import InfluxConfig
from enginewatch.harness import influx
from tests.support.services import INFLUX_URL

T0 = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z


def settings_for(database: str, compressed: bool = False) -> InfluxConfig:
    return InfluxConfig.model_validate(
        {
            "url": INFLUX_URL,
            "bucket": database,
            "api": "auto",
            "gzip": compressed,
        }
    )


def deliver(
    database: str, points: list[Point], max_points: int = 5000, compressed: bool = False
) -> tuple[BatchReport, list[Reject]]:
    dead_letters: list[Reject] = []

    async def dead_letter(reject: Reject) -> None:
        dead_letters.append(reject)

    async def go() -> BatchReport:
        sink = InfluxV1Sink(settings_for(database, compressed))
        try:
            delivery = Delivery(sink, dead_letter, max_points)
            return await delivery.deliver(
                [
                    Record(b"k", encode_archive([p]), Origin("archive", 1, i))
                    for i, p in enumerate(points)
                ]
            )
        finally:
            await sink.close()

    return asyncio.run(go()), dead_letters


def field_types(database: str) -> dict[tuple[str, str], str]:
    return {
        (series.name, key): kind
        for series in influx.query(database, "SHOW FIELD KEYS")
        for key, kind in series.values
    }


def read_back(database: str, measurement: str) -> list[dict[str, Any]]:
    return influx.rows(database, f'SELECT * FROM "{measurement}"')


def test_start_up_detects_v1_and_creates_the_database(database: str) -> None:
    assert asyncio.run(prepare(settings_for(database))) == "v1"
    databases = influx.query("", "SHOW DATABASES")[0].values
    assert [database] in databases


def test_start_up_stops_on_a_missing_retention_policy(database: str) -> None:
    with pytest.raises(ConfigurationError, match="retention policy not found: nope"):
        asyncio.run(prepare(settings_for(f"{database}/nope")))


@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "gzip"])
def test_points_read_back_exactly_with_their_field_types(database: str, compressed: bool) -> None:
    model = 'fraud "model", v=2 ünïcode\\path'
    points = [
        Point(
            "records",
            {"engine": "e-1", "model": model, "slot": "0", "direction": "input"},
            {"count": 10.0, "rps": 2.5},
            T0,
        ),
        Point(
            "records",
            {"engine": "e-1", "model": model, "slot": "0", "direction": "input"},
            {"count": 3.0},
            T0 + 1,
        ),
        Point(
            "engine_status", {"engine": "e-1", "model": model}, {"code": 1, "state": "running"}, T0
        ),
        Point(
            "engine_logs",
            {"engine": "e-1", "model": model, "level": "info"},
            {"text": 'line one\nline "two" \\ with, commas = and spaces'},
            T0,
        ),
    ]
    report, dead_letters = deliver(database, points, compressed=compressed)
    assert dead_letters == []
    assert report.points == 4

    records = read_back(database, "records")
    assert [(r["time"], r["count"], r["rps"], r["model"], r["slot"]) for r in records] == [
        (T0, 10, 2.5, model, "0"),
        (T0 + 1, 3, None, model, "0"),
    ]
    (status,) = read_back(database, "engine_status")
    assert (status["code"], status["state"], status["model"]) == (1, "running", model)
    (log,) = read_back(database, "engine_logs")
    assert log["text"] == 'line one\nline "two" \\ with, commas = and spaces'
    assert field_types(database) == {
        ("records", "count"): "float",
        ("records", "rps"): "float",
        ("engine_status", "code"): "integer",
        ("engine_status", "state"): "string",
        ("engine_logs", "text"): "string",
    }


def test_writing_twice_leaves_one_row(database: str) -> None:
    points = [Point("sensor", {"engine": "e", "model": "m", "tap": "t"}, {"value": 1.0}, T0)]
    deliver(database, points)
    deliver(database, points)
    assert len(read_back(database, "sensor")) == 1


def test_a_field_type_conflict_is_dead_lettered_and_the_rest_of_its_batch_written(
    database: str,
) -> None:
    tags = {"engine": "e-1", "model": "m", "tap": "temperature"}
    deliver(database, [Point("sensor", tags, {"value": 20.0}, T0)])
    batch = [Point("sensor", tags, {"value": float(i)}, T0 + 1 + i) for i in range(40)]
    poison = Point("sensor", tags, {"value": "hot"}, T0 + 100)
    batch.insert(17, poison)

    report, dead_letters = deliver(database, batch)

    assert len(read_back(database, "sensor")) == 41
    (reject,) = dead_letters
    assert reject.value == encode_point(poison).encode()
    assert reject.origin == Origin("archive", 1, 17)
    assert "field type conflict" in reject.error
    assert report.points == 40
    assert report.dead_letters == 1
    assert report.requests < 20  # bisection, not a request per point


def test_points_beyond_the_retention_policy_are_dead_lettered_in_one_request(
    database: str,
) -> None:
    requests.post(
        f"{INFLUX_URL}/query",
        params={"q": f'CREATE DATABASE "{database}" WITH DURATION 1h'},
        timeout=30,
    ).raise_for_status()
    old = [
        Point("sensor", {"engine": "e", "model": "m"}, {"value": 1.0}, T0 + i) for i in range(30)
    ]
    report, dead_letters = deliver(database, old)
    assert report.requests == 1
    assert len(dead_letters) == 30
    assert {r.error for r in dead_letters} == {
        "partial write: points beyond retention policy dropped=30"
    }


def test_a_database_dropped_while_running_is_created_again(database: str) -> None:
    first = Point("sensor", {"engine": "e", "model": "m", "tap": "t"}, {"value": 1.0}, T0)
    deliver(database, [first])
    influx.drop_database(database)
    second = Point("sensor", {"engine": "e", "model": "m", "tap": "t"}, {"value": 2.0}, T0 + 1)
    report, _ = deliver(database, [second])
    assert [r["value"] for r in read_back(database, "sensor")] == [2]
    assert report.points == 1


# Dense in characters that need escaping (or look like they do), or broad.
tricky = st.text(st.sampled_from(list('a ,="\\\n\t\rü#')), min_size=1, max_size=6) | st.text(
    st.characters(blacklist_categories=["Cs", "Cc"]), min_size=1, max_size=10
)
_times = itertools.count(T0 + 10**12, 1000)


def shown(name: str) -> str:
    """How InfluxDB shows a name: \n, \r, \t are written as two characters."""
    return name.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=tricky, text=st.text(max_size=30))
def test_whatever_the_encoder_accepts_reads_back_exactly(
    database: str, name: str, text: str
) -> None:
    """The name as measurement, tag key, tag value and field key, and the text as a
    string field: each comes back as it was sent, or the encoder refused it."""
    time = next(_times)
    candidates = {
        "measurement": Point(name, {"t": "v"}, {"f": text}, time),
        "tag key": Point("m", {f"t{name}": "v"}, {"f": text}, time + 1),
        "tag value": Point("m", {"t": name}, {"f": text}, time + 2),
        "field key": Point("m", {"t": "v"}, {f"f{name}": text}, time + 3),
    }
    lines = {}
    for position, point in candidates.items():
        try:
            lines[position] = encode_point(point)
        except LineProtocolError:
            continue
    if not lines:
        return
    influx.create_database(database)
    body = "".join(f"{line}\n" for line in lines.values()).encode()
    response = requests.post(
        f"{INFLUX_URL}/write", params={"db": database, "precision": "n"}, data=body, timeout=30
    )
    assert response.status_code == 204, (lines, response.text)

    for position, line in lines.items():
        point = candidates[position]
        regex = "".join(
            c if c.isalnum() else f"\\x{{{ord(c):x}}}" for c in shown(point.measurement)
        )
        rows = influx.rows(database, f"SELECT * FROM /^{regex}$/ WHERE time = {point.time}")
        assert len(rows) == 1, (position, line, rows)
        (row,) = rows
        assert row["_measurement"] == shown(point.measurement), (position, line)
        for tag, tag_value in point.tags.items():
            assert row[shown(tag)] == shown(tag_value), (position, line, row)
        for field, field_value in point.fields.items():
            assert row[shown(field)] == field_value, (position, line, row)
