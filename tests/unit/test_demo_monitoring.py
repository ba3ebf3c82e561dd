"""The demo's monitoring: its monitors file, the windows it waits for, the figures it reports."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from enginewatch.core.influxql import Series
from enginewatch.demo.monitoring import (
    PSI_THRESHOLD,
    Expected,
    Window,
    expected_windows,
    format_windows,
    monitor_name,
    monitors_file,
    queries,
    streams_rate,
    verdict,
    window_seconds,
    windows,
)
from enginewatch.tools.model_streams import INPUT_FIELDS, ModelStreamsConfig, model_streams
from monitors.config import load_monitors

START = datetime(2026, 1, 1, 12, 0, 3, tzinfo=UTC)
START_MS = int(START.timestamp() * 1000)
T = START_MS - 3000  # the first 10 s window


def test_the_monitors_file_is_one_monitors_accept(tmp_path: Path) -> None:
    path = tmp_path / "monitors.yaml"
    path.write_text(monitors_file('Prévision "de" la demande', "demo-model", 10), encoding="utf-8")
    (tmp_path / "reference.jsonl").write_text('{"income": 1}\n', encoding="utf-8")
    (monitor,) = load_monitors(path)
    assert monitor.name == "Pr-vision-de-la-demande-monitor" == monitor_name(monitor.model)
    assert monitor.model == 'Prévision "de" la demande'
    (stream,) = monitor.streams
    assert stream.topic == "demo-model-inputs"
    assert {n: f.type for n, f in stream.fields.items()} == INPUT_FIELDS
    assert monitor.drift is not None
    assert monitor.quality is not None
    assert monitor.quality.prediction.topic == "demo-model-predictions"
    assert monitor.quality.truth.topic == "demo-model-truths"
    assert f"thresholds: {{psi: {PSI_THRESHOLD}}}" in path.read_text(encoding="utf-8")


@pytest.mark.parametrize(("duration", "window"), [(60.0, 10), (15.0, 2), (5.0, 2), (120.0, 20)])
def test_windows_are_a_sixth_of_the_run_with_about_250_records(
    duration: float, window: int
) -> None:
    assert window_seconds(duration) == window
    assert streams_rate(window) * window == 250


def test_the_windows_waited_for_are_those_the_clocks_passed() -> None:
    config = ModelStreamsConfig(START, duration=60.0, rate=10.0, align=10.0)
    expected = expected_windows(model_streams(config), 10)
    # Inputs run to 12:01:02.9: the window of 12:00:50 closes (its end + 1 s of
    # lateness is past), that of 12:01:00 does not.
    assert expected.profiles == frozenset(T + 10_000 * k for k in range(6))
    # The join also waits the label delay (5 s): 12:00:50 closes at 12:01:06, too late.
    assert expected.quality == frozenset(T + 10_000 * k for k in range(5))


def series(name: str, columns: list[str], rows: list[list[object]], **tags: str) -> Series:
    return Series(name, tags, ["time", *columns], rows)


ANSWERS = {
    "records": [series("data_profile", ["records"], [[T, 250], [T + 10_000, 250]])],
    "stream": [
        series("data_drift", ["drift_share", "drifted"], [[T, 0.0, 0], [T + 10_000, 0.75, 1]])
    ],
    "fields": [
        series(
            "data_drift",
            ["drifted", "statistic"],
            [[T, 0, 0.01], [T + 10_000, 1, 2.5]],
            field="income",
        ),
        series(
            "data_drift",
            ["drifted", "statistic"],
            [[T, 0, 0.02], [T + 10_000, 0, 0.03]],
            field="age",
        ),
        series("data_drift", ["drifted", "statistic"], [[T + 10_000, 1, 1.1]], field="debt_ratio"),
    ],
    "quality": [
        series(
            "model_quality",
            ["mae", "rmse", "coverage", "above_threshold", "matched", "unmatched"],
            [[T, 0.7, 1.1, 0.96, 2, 240, 10], [T + 10_000, 4.1, 7.5, 0.95, 60, 238, 12]],
        )
    ],
}


def test_windows_gather_each_windows_figures_from_the_answers() -> None:
    found = windows(ANSWERS)
    assert found == [
        Window(T, 250, 0.0, False, [], 0.7, 1.1, 0.96, 2),
        Window(T + 10_000, 250, 0.75, True, ["debt_ratio", "income"], 4.1, 7.5, 0.95, 60),
    ]
    table = format_windows(found, START_MS).splitlines()
    assert table[0].split() == [
        "window", "records", "drift", "share", "drifted", "fields", "MAE", "RMSE", "coverage",
        "|error|", ">", "5",
    ]  # fmt: skip
    assert table[3].split() == [
        "12:00:10", "(+7", "s)", "250", "0.75", "DRIFT", "debt_ratio,", "income", "4.10", "7.50",
        "95.0", "%", "60",
    ]  # fmt: skip


def test_queries_quote_the_model() -> None:
    for text in queries("o'neil").values():
        assert "\"model\" = 'o\\'neil'" in text


def test_the_verdict_wants_drift_after_the_shift_only_and_worse_predictions() -> None:
    found = windows(ANSWERS)
    everything = Expected(frozenset({T, T + 10_000}), frozenset({T, T + 10_000}))
    good = verdict(found, everything, START_MS, T + 10_000, 10)
    assert good.ok, good.lines
    assert any("1 of the 1 windows after it drifted (debt_ratio, income" in x for x in good.lines)
    assert any("MAE 0.70 before the shift, 4.10 after" in x for x in good.lines)
    # Drift before the shift, none after, a window missing: each one is a problem.
    early = verdict(found, everything, START_MS, T + 20_000, 10)
    assert not early.ok
    assert any("drift in 1 window(s) before the shift" in x for x in early.lines)
    assert any("no drift after the shift" in x for x in early.lines)
    missing = Expected(frozenset({T, T + 20_000}), frozenset({T}))
    gone = verdict(found, missing, START_MS, T + 10_000, 10)
    assert not gone.ok
    assert any("windows not in InfluxDB: 1 profile(s), 0 quality" in x for x in gone.lines)
    better = windows({**ANSWERS, "quality": []})
    assert not verdict(better, everything, START_MS, T + 10_000, 10).ok
