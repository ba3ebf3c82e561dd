"""`enginewatch top`: query answers folded into the view's rows."""

from __future__ import annotations

from enginewatch.core.influxql import Series
from enginewatch.top.influx import rates_query, stages_query, states_query
from enginewatch.top.snapshot import (
    FiringAlert,
    LagRow,
    ModelAnswers,
    ModelRow,
    StageRow,
    firing_alerts,
    lag_rows,
    model_rows,
    newest_time,
    stage_rows,
)


def last(tags: dict[str, str], value: object, time: int = 0, column: str = "last") -> Series:
    return Series("m", tags, ["time", column], [[time, value]])


def test_newest_time_over_every_answer() -> None:
    answers = [[last({}, 1.0, 1_000)], [], [last({}, 1, 3_000), last({}, 2, 2_000)]]
    assert newest_time(answers) == 3_000
    assert newest_time([[], []]) is None


def test_model_rows_sum_engines_and_count_states_and_alerts() -> None:
    def rate(model: str, engine: str, slot: str, direction: str, value: float) -> Series:
        tags = {"model": model, "engine": engine, "slot": slot, "direction": direction}
        return last(tags, value)

    answers = ModelAnswers(
        rates=[
            rate("fraud", "a1", "0", "input", 10.0),
            rate("fraud", "a2", "0", "input", 5.0),
            rate("fraud", "a1", "1", "output", 9.0),
            rate("fraud", "a1", "3", "output", 1.0),
            rate("churn", "b1", "0", "input", 4.0),
            rate("churn", "b1", "1", "output", None),  # type: ignore[arg-type]
        ],
        rejected=[last({"model": "fraud"}, 12.0, column="sum")],
        states=[
            last({"model": "fraud", "engine": "a1"}, "running"),
            last({"model": "fraud", "engine": "a2"}, "error"),
            last({"model": "churn", "engine": "b1"}, "running"),
            last({"model": "", "engine": "u1"}, "warming-up"),
        ],
        system=[
            Series(
                "system",
                {"model": "fraud", "engine": "a1"},
                ["time", "cpu", "memory"],
                [[0, 30.0, 5e8]],
            ),
            Series(
                "system",
                {"model": "fraud", "engine": "a2"},
                ["time", "cpu", "memory"],
                [[0, 40.0, None]],
            ),
        ],
    )
    alerts = [
        FiringAlert("EngineError", "critical", "fraud", "a2", 5),
        FiringAlert("X", "info", "", "", 6),
    ]
    assert model_rows(answers, alerts) == [
        ModelRow("churn", records_in=4.0, states={"running": 1}),
        ModelRow(
            "fraud",
            records_in=15.0,
            records_out=10.0,
            rejected=12.0,
            states={"running": 1, "error": 1},
            cpu=70.0,
            memory=5e8,
            firing=1,
        ),
        ModelRow("unknown", states={"warming-up": 1}),
    ]


def test_firing_alerts_are_the_series_whose_latest_firing_is_1() -> None:
    def alert(name: str, engine: str, firing: int, time: int) -> Series:
        tags = {"alertname": name, "severity": "critical", "engine": engine, "model": "m"}
        return last(tags, firing, time)

    answer = [
        alert("EngineError", "a2", 1, 7_000),
        alert("EngineError", "a1", 0, 9_000),
        alert("HighCPU", "a1", 1, 3_000),
    ]
    assert firing_alerts(answer) == [
        FiringAlert("HighCPU", "critical", "m", "a1", 3_000),
        FiringAlert("EngineError", "critical", "m", "a2", 7_000),
    ]


def test_stage_rows_add_instances_up_and_keep_the_slowest_quantiles() -> None:
    columns = ["time", "events", "seconds", "p50_seconds", "p99_seconds"]

    def stage(worker: str, name: str, instance: str, *values: float | None) -> Series:
        tags = {"worker": worker, "stage": name, "instance": instance}
        return Series("enginewatch_stage", tags, columns, [[0, *values]])

    answer = [
        stage("agents", "derive", "h1", 100.0, 0.5, 0.002, 0.010),
        stage("agents", "derive", "h2", 50.0, 0.25, 0.003, 0.008),
        stage("archiver", "write", "h1", 10.0, 0.1, None, None),
    ]
    assert stage_rows(answer) == [
        StageRow("agents", "derive", 150.0, 0.75, 0.003, 0.010, 2),
        StageRow("archiver", "write", 10.0, 0.1, None, None, 1),
    ]


def test_lag_rows_per_topic_count_uncommitted_partitions_whole() -> None:
    committed = {("notify", 0): 40, ("notify", 1): 60, ("by-engine", 0): 5}
    ends = {("notify", 0): 50, ("notify", 1): 60, ("notify", 2): 7, ("by-engine", 0): 5}
    rows = lag_rows("agents", committed, ends)
    assert rows == [LagRow("agents", "by-engine", 5, 5), LagRow("agents", "notify", 100, 117)]
    assert [row.lag for row in rows] == [0, 17]


def test_queries_bound_the_window_in_event_time_and_stages_in_wall_time() -> None:
    assert "time > 1000ms AND time <= 61000ms" in rates_query(61_000, 60.0)
    assert 'GROUP BY "model", "engine", "slot", "direction"' in rates_query(61_000, 60.0)
    assert "time <= 61000ms" in states_query(61_000)
    assert "now() - 30000ms" in stages_query(30.0)
