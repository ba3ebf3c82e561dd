"""The InfluxQL queries of one refresh, and their answers folded into the view's rows.

The models' figures are taken as of the newest engine point (`records` or
`engine_status`), in event time, not as of the wall clock: a recording replayed
a year later shows as it ran, and a stalled pipeline shows its last figures
(with their time in the title) rather than an empty table. Within that clock:
rates and resources are each engine's latest within the window, rejections
the records rejected within it; an engine's state and an alert's firing hold
from their latest point, however old. Stage times are the pipeline's own,
stamped with the wall clock: the latest within the window before now.
"""

from __future__ import annotations

from dataclasses import dataclass

from enginewatch.core.influxql import InfluxQLClient
from enginewatch.top.snapshot import (
    FiringAlert,
    ModelAnswers,
    ModelRow,
    StageRow,
    firing_alerts,
    model_rows,
    newest_time,
    stage_rows,
)

CLOCK_QUERIES = (
    'SELECT last("count") FROM "records"',
    'SELECT last("code") FROM "engine_status"',
)


def rates_query(until_ms: int, window_s: float) -> str:
    return (
        f'SELECT last("rps") FROM "records" WHERE {_window(until_ms, window_s)} '
        'GROUP BY "model", "engine", "slot", "direction"'
    )


def rejected_query(until_ms: int, window_s: float) -> str:
    return (
        f'SELECT sum("count") FROM "rejections" WHERE {_window(until_ms, window_s)} '
        'GROUP BY "model"'
    )


def states_query(until_ms: int) -> str:
    return (
        f'SELECT last("state") FROM "engine_status" WHERE time <= {until_ms}ms '
        'GROUP BY "model", "engine"'
    )


def system_query(until_ms: int, window_s: float) -> str:
    return (
        'SELECT last("cpu_utilization") AS "cpu", last("memory") AS "memory" FROM "system" '
        f'WHERE {_window(until_ms, window_s)} GROUP BY "model", "engine"'
    )


ALERTS_QUERY = 'SELECT last("firing") FROM "alerts" GROUP BY *'


def stages_query(window_s: float) -> str:
    return (
        'SELECT last("events") AS "events", last("seconds") AS "seconds", '
        'last("p50_seconds") AS "p50_seconds", last("p99_seconds") AS "p99_seconds" '
        f'FROM "enginewatch_stage" WHERE time > now() - {_ms(window_s)}ms '
        'GROUP BY "worker", "stage", "instance"'
    )


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


def _window(until_ms: int, window_s: float) -> str:
    return f"time > {until_ms - _ms(window_s)}ms AND time <= {until_ms}ms"


@dataclass(frozen=True, slots=True)
class InfluxFigures:
    engines_at_ms: int | None
    models: list[ModelRow]
    alerts: list[FiringAlert]
    stages: list[StageRow]


def read_figures(client: InfluxQLClient, window_s: float) -> InfluxFigures:
    """Ask InfluxDB for one refresh's figures (an InfluxQueryError when it cannot answer)."""
    alerts = firing_alerts(client.query(ALERTS_QUERY))
    stages = stage_rows(client.query(stages_query(window_s)))
    clock = newest_time(client.query(q) for q in CLOCK_QUERIES)
    if clock is None:
        return InfluxFigures(None, [], alerts, stages)
    answers = ModelAnswers(
        rates=client.query(rates_query(clock, window_s)),
        rejected=client.query(rejected_query(clock, window_s)),
        states=client.query(states_query(clock)),
        system=client.query(system_query(clock, window_s)),
    )
    return InfluxFigures(clock, model_rows(answers, alerts), alerts, stages)
