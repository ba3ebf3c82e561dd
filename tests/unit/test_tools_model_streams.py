"""The model streams' generator: deterministic, in time order, joinable, shifting halfway."""

from __future__ import annotations

import statistics
from collections import Counter
from datetime import UTC, datetime

import orjson
import pytest

from enginewatch.tools.model_streams import (
    INPUT_FIELDS,
    P_NO_TRUTH,
    ModelStreamsConfig,
    model_streams,
    reference_sample,
)

START = datetime(2026, 1, 1, 12, 0, 0, 400_000, tzinfo=UTC)  # 0.4 s past a whole second
CONFIG = ModelStreamsConfig(START, duration=60.0, rate=50.0, seed=3, align=10.0)


def test_the_same_seed_gives_the_same_records_byte_for_byte() -> None:
    assert list(model_streams(CONFIG)) == list(model_streams(CONFIG))
    other = ModelStreamsConfig(START, duration=60.0, rate=50.0, seed=4, align=10.0)
    assert [r.value for r in model_streams(other)] != [r.value for r in model_streams(CONFIG)]


def test_records_come_in_time_order_from_an_aligned_start_until_the_end() -> None:
    # The first at the multiple of 10 s before the start, the shift at one too:
    # a monitor's 10 s windows are whole, each before or after the shift.
    assert CONFIG.first_us == int(datetime(2026, 1, 1, 12, tzinfo=UTC).timestamp()) * 10**6
    assert CONFIG.shift_us == CONFIG.first_us + 30 * 10**6
    records = list(model_streams(CONFIG))
    times = [r.time_us for r in records]
    assert times == sorted(times)
    inputs = [r for r in records if r.role == "inputs"]
    assert inputs[0].time_us == CONFIG.first_us
    assert inputs[-1].time_us < CONFIG.end_us
    assert len(inputs) == 60.4 * 50  # from 12:00:00 to the end at 12:01:00.4, 50 a second
    for record in records:
        value = orjson.loads(record.value)
        assert round(value["ts"] * 1e6) == record.time_us
        assert record.key == value["id"].encode()


def test_every_prediction_follows_its_input_and_most_get_their_truth_later() -> None:
    by_role: dict[str, dict[str, dict[str, float]]] = {}
    for record in model_streams(CONFIG):
        value = orjson.loads(record.value)
        by_role.setdefault(record.role, {})[value["id"]] = value
    inputs, predictions, truths = by_role["inputs"], by_role["predictions"], by_role["truths"]
    assert set(predictions) == set(inputs)
    assert set(truths) < set(predictions)
    assert all(predictions[i]["ts"] > inputs[i]["ts"] for i in inputs)
    assert all(0.5 <= truths[i]["ts"] - predictions[i]["ts"] <= 3.0 for i in truths)
    coverage = len(truths) / len(predictions)
    assert coverage == pytest.approx(1 - P_NO_TRUTH, abs=0.02)
    assert set(inputs[next(iter(inputs))]) == {"id", "ts", *INPUT_FIELDS}


def test_the_input_shifts_halfway_and_the_predictions_err_more() -> None:
    before: list[dict[str, float | str]] = []
    after: list[dict[str, float | str]] = []
    predicted: dict[str, float] = {}
    errors: dict[bool, list[float]] = {False: [], True: []}
    shifted: dict[str, bool] = {}
    for record in model_streams(CONFIG):
        value = orjson.loads(record.value)
        if record.role == "inputs":
            late = record.time_us >= CONFIG.shift_us
            (after if late else before).append(value)
            shifted[value["id"]] = late
        elif record.role == "predictions":
            predicted[value["id"]] = value["limit"]
        else:
            errors[shifted[value["id"]]].append(abs(predicted[value["id"]] - value["limit"]))

    def mean(rows: list[dict[str, float | str]], name: str) -> float:
        return statistics.fmean(float(r[name]) for r in rows)

    assert mean(after, "income") > 1.4 * mean(before, "income")
    assert mean(after, "debt_ratio") > mean(before, "debt_ratio") + 0.1
    assert mean(after, "age") == pytest.approx(mean(before, "age"), abs=1.5)
    top = Counter(r["region"] for r in after).most_common(1)[0][0]
    assert top == "east" != Counter(r["region"] for r in before).most_common(1)[0][0]
    assert statistics.fmean(errors[True]) > 3 * statistics.fmean(errors[False])


def test_the_reference_sample_is_the_unshifted_input_without_times() -> None:
    sample = [orjson.loads(line) for line in reference_sample(1, 500)]
    assert sample == [orjson.loads(line) for line in reference_sample(1, 500)]
    assert all(set(row) == {"id", *INPUT_FIELDS} for row in sample)
    assert statistics.fmean(row["income"] for row in sample) < 60


def test_a_bad_configuration_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone"):
        ModelStreamsConfig(datetime(2026, 1, 1), duration=1.0)
    with pytest.raises(ValueError, match="share"):
        ModelStreamsConfig(START, duration=1.0, shift=1.5)
