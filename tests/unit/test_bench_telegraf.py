"""The Telegraf comparison's pure parts: its configurations, the invalid lines put into
its input, what its log says, and how stored points are judged."""

from __future__ import annotations

import tomllib
from pathlib import Path

import orjson
import pytest

from agents.pipeline import Accepted, Rejected, handle
from benchmarks import invalid, outcomes, telegraf
from benchmarks.telegraflog import read_log
from benchmarks.workload import Recording, recording

PLACEHOLDERS = ("BENCH_BROKER", "BENCH_TOPIC", "BENCH_GROUP", "BENCH_INFLUX_URL", "BENCH_DATABASE")


@pytest.mark.parametrize("config", [telegraf.CONFIG, telegraf.GENERIC_CONFIG])
def test_the_configurations_read_the_input_and_write_the_database_they_are_given(
    config: Path,
) -> None:
    text = config.read_text()
    for name in PLACEHOLDERS:
        assert "${" + name + "}" in text, name
    parsed = tomllib.loads(text)
    (consumer,) = parsed["inputs"]["kafka_consumer"]
    assert consumer["offset"] == "oldest"
    assert consumer["data_format"] == "json_v2"
    (parser,) = consumer["json_v2"]
    assert parser["measurement_name_path"] == "type"
    assert parser["timestamp_path"] == "timestamp"
    (output,) = parsed["outputs"]["influxdb"]
    assert output["log_level"] == "debug"  # the log's batch sizes are counted
    assert parsed["agent"]["metric_batch_size"] <= consumer["max_undelivered_messages"]


def test_the_tuned_configuration_gives_every_field_one_type() -> None:
    parsed = tomllib.loads(telegraf.CONFIG.read_text())
    (parser,) = parsed["inputs"]["kafka_consumer"][0]["json_v2"]
    fields = parser["field"]
    assert all(field["type"] and field["optional"] for field in fields)
    assert {f["path"]: f["type"] for f in fields}["ref"] == "string"
    assert [t["path"] for t in parser["tag"]][:2] == ["src", "tap"]


def test_invalid_lines_are_spread_deterministically_and_all_rejected() -> None:
    mixed = recording(700, sensor_reports_only=False)
    mixed_again = invalid.with_invalid_lines(mixed, 21)
    assert mixed_again == invalid.with_invalid_lines(mixed, 21)
    assert len(mixed_again) == 721
    assert invalid.kinds_of(21) == dict.fromkeys(invalid.KINDS, 3)
    carry: dict[str, dict[str, float]] = {}
    handled = [
        handle(v, lambda src: mixed.models.get(src, "unknown"), carry) for v in mixed_again.values
    ]
    assert sum(isinstance(o, Rejected) for o in handled) == 21
    originals = set(mixed.values)
    valid = [v for v in mixed_again.values if v in originals]
    assert valid == mixed.values  # the messages keep their order
    assert mixed_again.keys.count(invalid.INVALID_KEY) == 21


def test_the_log_counts_what_telegraf_sent_and_dropped() -> None:
    at = "2026-12-02T02:14:53Z"
    refused = f"{at} E! [outputs.influxdb] E! [outputs.influxdb] Failed to write metric"
    log = "\n".join(
        [
            f"{at} I! Loaded inputs: kafka_consumer",
            f"{at} E! [inputs.kafka_consumer] Error in plugin: invalid JSON provided",
            f'{at} E! [inputs.kafka_consumer] Error in plugin: the timestamp path "timestamp"',
            f'{at} E! [parsers.json_v2::kafka_consumer] unable to convert field "data"',
            f"{at} D! [outputs.influxdb] Wrote batch of 5000 metrics in 80ms",
            f"{refused} (will be dropped: 400 Bad Request): field type conflict",
            f"{at} D! [outputs.influxdb] Wrote batch of 4000 metrics in 20ms",
            f"{refused} (will be dropped: 400 Bad Request): partial write: field type conflict:"
            ' input field "x" on measurement "m" is type string, already exists as type float'
            " dropped=7",
            f"{at} D! [outputs.influxdb] Wrote batch of 5000 metrics in 90ms",
            f"{at} D! [outputs.influxdb] Buffer fullness: 0 / 100000 metrics",
        ]
    )
    said = read_log(log)
    assert (said.metrics_sent, said.batches) == (14000, 3)
    assert said.dropped_messages == 2
    assert said.conversion_errors == 1
    assert (said.refused_writes, said.refused_metrics) == (1, 4000)
    assert (said.partial_writes, said.partial_dropped) == (1, 7)


def _report(tap: str, data: list[float], src: str = "e-1") -> bytes:
    return orjson.dumps(
        {
            "type": "sensor-report",
            "timestamp": "2024-05-01T00:00:01Z",
            "src": src,
            "tap": tap,
            "delta_time": 1.0,
            "data": data,
        }
    )


def test_lists_are_judged_by_the_amount_the_contract_gives_them() -> None:
    values = [
        _report("manifold.0.records.count", [1, 2, 3]),  # sum 6
        _report("sys.memory", [10, 30]),  # mean 20
        _report("manifold.1.records.rejected.by.schema", []),  # count 0
        _report("sys.memory", []),  # no amount: no point
    ]
    lists = outcomes.sensor_lists(values)
    assert [r.amount for r in lists] == [6.0, 20.0, 0.0]
    second = 1_714_521_601_000_000_000
    stored_by_enginewatch = []
    for value in values:
        outcome = handle(value, lambda _: "m", {})
        assert isinstance(outcome, Accepted)
        for point in outcome.points:
            stored_by_enginewatch.append(
                {
                    "_measurement": point.measurement,
                    "time": point.time,
                    **dict(point.tags),
                    **dict(point.fields),
                }
            )
    judged = outcomes.list_outcomes(lists, stored_by_enginewatch, outcomes.ENGINEWATCH)
    assert (judged.amount, judged.last_element, judged.other) == (3, 0, 0)

    stored_by_telegraf = [
        {"_measurement": "sensor-report", "src": "e-1", "tap": r.tap, "time": second, "data": d}
        for r, d in zip(lists[:2], (3.0, 30.0), strict=True)
    ]
    judged = outcomes.list_outcomes(lists, stored_by_telegraf, outcomes.TELEGRAF)
    assert (judged.amount, judged.last_element, judged.other) == (0, 2, 1)


def test_rates_models_and_invalid_points_are_counted_per_point() -> None:
    rows = [
        {"_measurement": "records", "engine": "e", "model": "m", "count": 1.0, "rps": 2.0},
        {"_measurement": "records", "engine": "e", "model": "unknown", "count": 1.0, "rps": None},
        {"_measurement": "record_bytes", "engine": "e", "bytes_per_second": 5.0},
        {"_measurement": "sensor-report", "src": invalid.INVALID_ENGINE, "data": 1.0},
    ]
    assert outcomes.rate_points(rows) == 2
    assert outcomes.model_points(rows) == 1
    assert outcomes.invalid_points(rows, "src") == 1
    assert outcomes.invalid_points(rows, "engine") == 0


def test_a_recording_without_lists_has_nothing_to_judge() -> None:
    empty = Recording([], [], {})
    assert outcomes.sensor_lists(empty.values) == []
    assert outcomes.list_outcomes([], [], outcomes.TELEGRAF) == outcomes.ListOutcomes(0, 0, 0)
