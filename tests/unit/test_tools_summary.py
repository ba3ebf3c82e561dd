"""The demo's per-model summary: InfluxQL answers -> rows -> a table."""

from __future__ import annotations

from enginewatch.core.influxql import Series
from enginewatch.demo.summary import (
    COUNT_ALL,
    ModelSummary,
    count_points,
    format_table,
    missing_models,
    summarize,
)


def agg(value: object, **tags: str) -> Series:
    return Series("x", tags, ["time", "v"], [[0, value]])


ANSWERS = {
    "rps_in": [agg(12.5, model="Prévision de la demande"), agg(3.0, model="churn score v2")],
    "rps_out": [agg(12.0, model="Prévision de la demande")],
    "records_in": [agg(750.0, model="Prévision de la demande"), agg(180.0, model="churn score v2")],
    "rejected": [
        agg(4.0, model="Prévision de la demande", reason="schema"),
        agg(1.0, model="Prévision de la demande", reason="encoding"),
    ],
    "state": [
        agg("running", model="Prévision de la demande"),
        agg("error", model="churn score v2"),
    ],
    "cpu": [agg(41.25, model="Prévision de la demande"), agg(None, model="churn score v2")],
    "memory": [agg(512 * 1024 * 1024, model="Prévision de la demande")],
}


def test_summarize_groups_every_answer_by_model() -> None:
    rows = summarize(ANSWERS)
    assert rows["Prévision de la demande"] == ModelSummary(
        model="Prévision de la demande",
        rps_in=12.5,
        rps_out=12.0,
        records_in=750.0,
        rejected={"schema": 4.0, "encoding": 1.0},
        state="running",
        cpu=41.25,
        memory=512 * 1024 * 1024,
    )
    assert rows["churn score v2"] == ModelSummary(
        "churn score v2", rps_in=3.0, records_in=180.0, state="error"
    )


def test_missing_models_are_those_without_records_system_or_state() -> None:
    rows = summarize(ANSWERS)
    models = ["Prévision de la demande", "churn score v2", "toy model"]
    assert missing_models(rows, models) == ["churn score v2", "toy model"]


def test_table() -> None:
    table = format_table(summarize(ANSWERS).values()).splitlines()
    assert table[0].split("  ")[0].strip() == "model"
    assert set(table[1]) <= {"-", " "}
    words = [" ".join(line.split()) for line in table[2:]]
    assert words == [
        "Prévision de la demande 12.5 12.0 750 4 / 1 running 41.2 512",
        "churn score v2 3.0 - 180 0 / 0 error - -",
    ]
    assert len({len(line) for line in table[:2]}) == 1  # the rule spans the header


def test_count_points_counts_a_field_every_point_has() -> None:
    answer = [
        Series("records", {}, ["time", "count_count", "count_rps"], [[0, 10, 7]]),
        Series("system", {}, ["time", "count_cpu_utilization", "count_memory"], [[0, 5, 5]]),
        Series("engine_status", {}, ["time", "count_code", "count_state"], [[0, 2, 2]]),
        Series("unrelated", {}, ["time", "count_x"], [[0, 99]]),
    ]
    assert count_points(answer) == 10 + 5 + 5 + 2
    assert count_points([]) == 0
    assert COUNT_ALL.startswith("SELECT count(*)")
