"""Honest dashboards without a Grafana server.

tests/recordings/dashboards.jsonl is replayed through the real agents, the
real alerts worker (ALERT_RULES) and the real archiver into the real InfluxDB;
then every variable query, every panel query and every annotation query of
Fleet overview and Model detail, interpolated exactly as Grafana interpolates them
(enginewatch.dashboards.interpolation), runs against InfluxDB and must return
the series the recording implies, by name and value.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from enginewatch.core.influxql import InfluxQLClient
from enginewatch.dashboards.dashboards import Dashboard, load_dashboards, load_datasources
from enginewatch.dashboards.interpolation import ALL_VALUE, TimeRange
from enginewatch.dashboards.panel_data import TimeSeries, last_value, table, time_series
from enginewatch.dashboards.panel_queries import (
    annotation_queries,
    panel_queries,
    resolve_variables,
)
from enginewatch.harness import influx, kafka
from enginewatch.harness.processes import Process as Worker
from enginewatch.harness.processes import run_enginewatch
from tests.support.services import INFLUX_URL, base_env

ROOT = Path(__file__).resolve().parents[2]
RECORDING = ROOT / "tests" / "recordings" / "dashboards.jsonl"
T0 = 1_714_564_800_000  # 2024-05-01T12:00:00Z, the recording's first second
RANGE = TimeRange(T0 - 60_000, T0 + 120_000)

A1 = "5f0c1d2e-3a4b-4c5d-8e6f-7a8b9c0d1e01"
A2 = "5f0c1d2e-3a4b-4c5d-8e6f-7a8b9c0d1e02"
B1 = "9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c03"
U1 = "c0ffee00-1111-4222-8333-444455556604"  # not in the map: model "unknown"
FRAUD = "fraud/score v2.1"  # a model name that needs regex escaping: / . and a space
ENGINE_MAP = {A1: FRAUD, A2: FRAUD, B1: "churn"}
# A2 falls into error at 32.149 s and stays there (EngineError fires); B1 is
# paused from 45.192 s to 50.206 s (EnginePaused fires and resolves).
ALERT_RULES = """
rules:
  - name: EngineError
    measurement: engine_status
    field: code
    equals: 2
    severity: critical
  - name: EnginePaused
    measurement: engine_status
    field: code
    equals: 3
    severity: warning
"""
ALERT_POINTS = 3  # two fired, one resolved


# --- what a query must return ----------------------------------------------------


Check = Callable[[list[TimeSeries], Any], list[str]]
STATISTICS: dict[str, Callable[[list[float]], float]] = {
    "max": max,
    "sum": sum,
    "last": lambda values: values[-1],
}


@dataclass(frozen=True)
class Lines:
    """Time series by name, each with a statistic of its values (max, last or sum)."""

    expected: dict[str, float]
    stat: str = "max"
    contains: tuple[tuple[str, float], ...] = ()

    def __call__(self, series: list[TimeSeries], _table: Any) -> list[str]:
        names = {s.name for s in series}
        if names != set(self.expected):
            return [f"series {sorted(names)}, expected {sorted(self.expected)}"]
        problems = []
        for one in series:
            values = [float(v) for v in one.values if v is not None]
            got = STATISTICS[self.stat](values)
            if not math.isclose(got, self.expected[one.name], rel_tol=1e-9):
                problems.append(
                    f"{one.name}: {self.stat} {got}, expected {self.expected[one.name]}"
                )
        for name, value in self.contains:
            if not any(value in s.values for s in series if s.name == name):
                problems.append(f"{name} never shows {value}")
        return problems


@dataclass(frozen=True)
class Values:
    """Time series by name, each with every value it shows (nulls left out), in time order."""

    expected: dict[str, list[float]]
    rel_tol: float = 1e-9

    def __call__(self, series: list[TimeSeries], _table: Any) -> list[str]:
        got = {s.name: [float(v) for v in s.values if v is not None] for s in series}
        if set(got) != set(self.expected):
            return [f"series {sorted(got)}, expected {sorted(self.expected)}"]
        return [
            f"{name}: values {values}, expected {self.expected[name]}"
            for name, values in got.items()
            if len(values) != len(self.expected[name])
            or not all(
                math.isclose(value, wanted, rel_tol=self.rel_tol)
                for value, wanted in zip(values, self.expected[name], strict=True)
            )
        ]


@dataclass(frozen=True)
class Stat:
    value: float | None  # None: no value ("No data")

    def __call__(self, series: list[TimeSeries], _table: Any) -> list[str]:
        got = last_value(series)
        if got is None or self.value is None:
            same = got is None and self.value is None
        else:
            same = math.isclose(float(got), self.value, rel_tol=1e-9)
        return [] if same else [f"stat {got}, expected {self.value}"]


@dataclass(frozen=True)
class Rows:
    """Table rows, projected onto some columns (as a set: order is the panel's business)."""

    columns: tuple[str, ...]
    expected: frozenset[tuple[Any, ...]]

    def __call__(self, _series: Any, rows: Any) -> list[str]:
        if rows is None or not rows.rows:
            return [] if not self.expected else ["no rows"]
        index = [list(rows.columns).index(c) for c in self.columns]
        got = {tuple(row[i] for i in index) for row in rows.rows}
        if len(got) != len(rows.rows):
            return [f"repeated rows in {rows.rows}"]
        return (
            []
            if got == self.expected
            else [f"rows {sorted(got)}, expected {sorted(self.expected)}"]
        )


NOTHING = Lines({})


def rows(columns: tuple[str, ...], *expected: tuple[Any, ...]) -> Rows:
    return Rows(columns, frozenset(expected))


FLEET: dict[str, Check] = {
    "Engines": Stat(4),
    "Running": Stat(2),
    "In error": Stat(1),
    "Records in": Stat(600 + 150 + 240 + 110),
    "Records out": Stat(540 + 120 + 240),
    # Rejections as the taps count them (4 + 3), and as the engines report them.
    "Rejected records": Stat(4 + 3 + 2 + 2 + 1 + 1),
    "Engine state": Lines({A1: 1, A2: 2, B1: 1, U1: -1}, "last", ((B1, 3),)),
    "Engine health": Lines({f"{A1} engine-1": 1, f"{A2} engine-2": 0, f"{B1} engine-3": 1}, "last"),
    "Records in per second, by model": Lines({FRAUD: 15, "churn": 4, "unknown": 2}),
    "Records out per second, by model": Lines({FRAUD: 13, "churn": 4}),
    "Rejected records by reason": Lines(
        {
            f"{FRAUD}: schema": 4 + 2,
            f"{FRAUD}: encoding": 3 + 2,
            f"{FRAUD}: reported": 1,
            "churn: schema": 1,
        },
        "sum",
    ),
    "CPU utilization by model": Lines({FRAUD: 70, "churn": 10}),
    "Memory by model": Lines({FRAUD: 1.1e9, "churn": 2.1e8}),
    "Current state of each engine": rows(
        ("engine", "state", "reported", "model"),
        (A1, 1, "running", FRAUD),
        (A2, 2, "error", FRAUD),
        (B1, 1, "running", "churn"),
        (U1, -1, "warming-up", "unknown"),
    ),
    # Firing at the range's end: A2's error; B1's pause resolved.
    "Firing alerts": rows(
        ("Time", "alertname", "severity", "engine", "model", "state", "value"),
        (T0 + 32_149, "EngineError", "critical", A2, FRAUD, "firing", 2),
    ),
}
ALERT_COLUMNS = ("Time", "alertname", "state", "severity", "engine", "model", "value")
A2_FIRED = (T0 + 32_149, "EngineError", "firing", "critical", A2, FRAUD, 2)
B1_FIRED = (T0 + 45_192, "EnginePaused", "firing", "warning", B1, "churn", 3)
B1_RESOLVED = (T0 + 50_206, "EnginePaused", "resolved", "warning", B1, "churn", 1)
FLEET_ANNOTATIONS: dict[str, Check] = {
    "Alerts firing": rows(ALERT_COLUMNS, A2_FIRED, B1_FIRED),
    "Alerts resolved": rows(ALERT_COLUMNS, B1_RESOLVED),
}

EVENT_COLUMNS = ("item", "op", "ref", "engine")


def events(engine: str, *extra: tuple[str, str, str]) -> list[tuple[str, ...]]:
    base = [("model", "load", "model.py"), ("stream", "attach", "0"), ("stream", "attach", "1")]
    return [(*e, engine) for e in [*base, *extra]]


def end_of_input(*ends: tuple[str, int]) -> Rows:
    """The end-of-input annotation's events: engine and time (ms after T0)."""
    return rows(("Time", *EVENT_COLUMNS), *((T0 + ms, "stream", "eof", "", e) for e, ms in ends))


# Jet rates: the growth of a cumulative total between two jet-status reports,
# which the recording sends 10.001 s apart (each message has a millisecond of its own).
# The agents carry a report's time as float seconds, a quarter of a microsecond
# apart at today's epoch: a rate is exact to a few parts in 10^8.
GAP = 10.001
RATE_TOLERANCE = 1e-7
A1_JET, A2_JET = f"{A1} jet 4187", f"{A2} jet 5120"
A1_JET_MEMORY = [3.0e8, 3.1e8, 3.2e8, 3.3e8]
A2_JET_MEMORY = [4.0e8, 4.1e8, 4.05e8]
A1_JET_PROGRESS = {f"{A1_JET} consumed": [100 / GAP] * 3, f"{A1_JET} produced": [90 / GAP] * 3}
A2_JET_PROGRESS = {f"{A2_JET} consumed": [50 / GAP] * 2, f"{A2_JET} produced": [40 / GAP] * 2}


CHURN: dict[str, Check] = {
    "Engine state": Lines({B1: 1}, "last", ((B1, 3),)),
    "Health": Lines({f"{B1} engine-3": 1}, "last"),
    "Records per second by slot": Lines({f"{B1} slot 0 (input)": 4, f"{B1} slot 1 (output)": 4}),
    "Jet records per second": NOTHING,
    "Record bytes per second by slot": Lines({f"{B1} slot 0 (input)": 400}),
    "Rejected records by slot and reason": Lines({f"{B1} slot 1: schema": 1}, "sum"),
    "Other sensors": Lines({f"{B1} model.queue.depth": 7}),
    "CPU utilization": Lines({B1: 10}),
    "Memory": Lines({B1: 2.1e8}),
    "Jet memory": NOTHING,
    "Jet progress": NOTHING,
    "Engine logs": rows(("text", "level", "engine"), ("input slot 0 is slow", "warning", B1)),
    "Model console": rows(("text", "engine"), ("churn: ready to score", B1)),
    "Config events": rows(EVENT_COLUMNS, *events(B1)),
}
CHURN_ANNOTATIONS: dict[str, Check] = {
    "Config events": rows(EVENT_COLUMNS, *events(B1)),
    "End of input": end_of_input((B1, 40_248)),
    "Alerts firing": rows(ALERT_COLUMNS, B1_FIRED),
    "Alerts resolved": rows(ALERT_COLUMNS, B1_RESOLVED),
}
FRAUD_ALL: dict[str, Check] = {
    "Engine state": Lines({A1: 1, A2: 2}, "last"),
    "Health": Lines({f"{A1} engine-1": 1, f"{A2} engine-2": 0}, "last"),
    "Records per second by slot": Lines(
        {
            f"{A1} slot 0 (input)": 10,
            f"{A1} slot 1 (output)": 9,
            f"{A2} slot 0 (input)": 5,
            f"{A2} slot 1 (output)": 4,
        }
    ),
    "Jet records per second": Lines(
        {
            f"{A1} jet 1 input": 10,
            f"{A1} jet 1 output": 9,
            f"{A2} jet 1 input": 5,
            f"{A2} jet 1 output": 4,
        }
    ),
    "Record bytes per second by slot": Lines(
        {f"{A1} slot 0 (input)": 2000, f"{A2} slot 0 (input)": 1000}
    ),
    # A slot's series sums the tap's count and the engine's rejected-data reports.
    "Rejected records by slot and reason": Lines(
        {
            f"{A1} slot 0: schema": 4 + 2,
            f"{A2} slot 0: encoding": 3 + 2,
            f"{A1} slot 0: reported": 1,
        },
        "sum",
    ),
    "Other sensors": NOTHING,
    "CPU utilization": Lines({A1: 30, A2: 40}),
    "Memory": Lines({A1: 5e8, A2: 6e8}),
    "Jet memory": Values({A1_JET: A1_JET_MEMORY, A2_JET: A2_JET_MEMORY}),
    "Jet progress": Values({**A1_JET_PROGRESS, **A2_JET_PROGRESS}, RATE_TOLERANCE),
    "Engine logs": rows(
        ("text", "level", "engine"),
        ("model loaded", "info", A1),
        ("scoring failed: ValueError in score()", "error", A2),
    ),
    "Model console": rows(("text", "engine"), ("fraud: first batch scored", A1)),
    "Config events": rows(EVENT_COLUMNS, *events(A1, ("stream", "detach", "1")), *events(A2)),
}
FRAUD_ALL_ANNOTATIONS: dict[str, Check] = {
    "Config events": FRAUD_ALL["Config events"],
    "End of input": end_of_input((A1, 52_247)),
    "Alerts firing": rows(ALERT_COLUMNS, A2_FIRED),
    "Alerts resolved": rows(ALERT_COLUMNS),
}
FRAUD_A2: dict[str, Check] = {
    "Engine state": Lines({A2: 2}, "last"),
    "Health": Lines({f"{A2} engine-2": 0}, "last"),
    "Records per second by slot": Lines({f"{A2} slot 0 (input)": 5, f"{A2} slot 1 (output)": 4}),
    "Jet records per second": Lines({f"{A2} jet 1 input": 5, f"{A2} jet 1 output": 4}),
    "Record bytes per second by slot": Lines({f"{A2} slot 0 (input)": 1000}),
    "Rejected records by slot and reason": Lines({f"{A2} slot 0: encoding": 3 + 2}, "sum"),
    "Other sensors": NOTHING,
    "CPU utilization": Lines({A2: 40}),
    "Memory": Lines({A2: 6e8}),
    "Jet memory": Values({A2_JET: A2_JET_MEMORY}),
    "Jet progress": Values(A2_JET_PROGRESS, RATE_TOLERANCE),
    "Engine logs": rows(
        ("text", "level", "engine"), ("scoring failed: ValueError in score()", "error", A2)
    ),
    "Model console": rows(("text", "engine")),
    "Config events": rows(EVENT_COLUMNS, *events(A2)),
}
FRAUD_A2_ANNOTATIONS: dict[str, Check] = {
    "Config events": FRAUD_A2["Config events"],
    "End of input": end_of_input(),
    "Alerts firing": rows(ALERT_COLUMNS, A2_FIRED),
    "Alerts resolved": rows(ALERT_COLUMNS),
}
MODELS = ["churn", FRAUD, "unknown"]


@dataclass(frozen=True)
class Scenario:
    """One view of a dashboard: the variables an operator picks and what each panel shows."""

    dashboard: str
    asked: dict[str, list[str]]
    variables: dict[str, tuple[list[str], str | tuple[str, ...]]]  # name: (options, selection)
    panels: dict[str, Check]
    annotations: dict[str, Check] = field(default_factory=dict)  # by annotation name


SCENARIOS = [
    Scenario("Fleet overview", {}, {}, FLEET, FLEET_ANNOTATIONS),
    # Opened without choosing: the first model, all its engines (Grafana's defaults).
    Scenario(
        "Model detail",
        {},
        {"model": (MODELS, "churn"), "engine": ([B1], (ALL_VALUE,))},
        CHURN,
        CHURN_ANNOTATIONS,
    ),
    Scenario(
        "Model detail",
        {"model": [FRAUD]},
        {"model": (MODELS, FRAUD), "engine": ([A1, A2], (ALL_VALUE,))},
        FRAUD_ALL,
        FRAUD_ALL_ANNOTATIONS,
    ),
    Scenario(
        "Model detail",
        {"model": [FRAUD], "engine": [A2]},
        {"model": (MODELS, FRAUD), "engine": ([A1, A2], (A2,))},
        FRAUD_A2,
        FRAUD_A2_ANNOTATIONS,
    ),
]


# --- the pipeline ------------------------------------------------------------------


def load_through_the_pipeline(
    workers: Callable[..., Worker],
    unique: Callable[[str], str],
    database: str,
    tmp_path: Path,
    archiver: dict[str, str] | None = None,
) -> int:
    """Replay the recording through agents, alerts worker and archiver; the number
    of points expected. `archiver`: where it writes (ENGINEWATCH_INFLUX_* settings),
    instead of `database` on the shared InfluxDB."""
    notify, archive, dead = unique("notify"), unique("archive"), unique("dead")
    kafka.create_topic(notify)
    engine_map = tmp_path / "engines.json"
    engine_map.write_text(json.dumps(ENGINE_MAP), encoding="utf-8")
    rules = tmp_path / "rules.yaml"
    rules.write_text(ALERT_RULES, encoding="utf-8")
    if archiver is None:
        influx.create_database(database)
        archiver = {"influx_bucket": database}
    topics = {"input_topic": notify, "archive_topic": archive, "dead_letter_topic": dead}
    app = unique("app")
    workers(["agents"], base_env(app, engine_map=str(engine_map), **topics), "agents")
    alerting = base_env(app, alert_rules=str(rules), alerts_topic=unique("alerts"), **topics)
    workers(["alerts"], alerting, "alerts")
    workers(["archiver"], base_env(app, **(archiver | topics)), "archiver")
    replay = run_enginewatch(
        "replay", str(RECORDING), "--topic", notify, "--key", "src", env=base_env(app, **topics)
    )
    assert replay.returncode == 0, replay.stderr
    # Every line is valid and yields one point, each at its own millisecond (a
    # jet-status report lists one jet); the alerts worker adds its transitions.
    return len(RECORDING.read_bytes().splitlines()) + ALERT_POINTS


def check_scenario(
    scenario: Scenario,
    dashboard: Dashboard,
    client: InfluxQLClient,
    time_range: TimeRange = RANGE,
) -> tuple[list[str], set[str]]:
    """Problems found, and the panels that returned data."""
    datasources = load_datasources(ROOT / "grafana" / "provisioning" / "datasources")
    where = f"{scenario.dashboard} {scenario.asked or '(defaults)'}"
    problems: list[str] = []
    variables = resolve_variables(dashboard, client, time_range, scenario.asked)
    for name, (options, selection) in scenario.variables.items():
        got = variables[name]
        if list(got.options) != options or got.selected != selection:
            problems.append(
                f"{where}: ${name} options {list(got.options)} selected {got.selected!r}, "
                f"expected {options} selected {selection!r}"
            )
    with_data = set()
    for query in panel_queries(dashboard, variables, time_range, datasources):
        panel, target = query.panel, query.target
        check = scenario.panels.get(panel.title)
        if check is None:
            problems.append(f"{where}: no expectation for panel {panel.title!r}")
            continue
        try:
            found = client.query(query.influxql)
        except Exception as exc:  # the query must run: report, then go on
            problems.append(f"{where} / {panel.title}: {exc}\n    {query.influxql}")
            continue
        if found:
            with_data.add(f"{scenario.dashboard} / {panel.title}")
        shaped = time_series(found, target.alias)
        rows_ = table(found) if target.result_format in ("table", "logs") else None
        problems += [
            f"{where} / {panel.title} {target.ref_id}: {p}\n    {query.influxql}"
            for p in check(shaped, rows_)
        ]
    queried = annotation_queries(dashboard, variables, time_range)
    names = [a.annotation.name for a in queried]
    if names != list(scenario.annotations):
        problems.append(f"{where}: annotations {names}, expected {list(scenario.annotations)}")
    for annotation in queried:
        check = scenario.annotations.get(annotation.annotation.name)
        if check is None:
            continue
        found = client.query(annotation.influxql)
        problems += [
            f"{where} / annotation {annotation.annotation.name}: {p}\n    {annotation.influxql}"
            for p in check([], table(found))
        ]
    return problems, with_data


def check_scenarios(client: InfluxQLClient) -> list[str]:
    """SCENARIOS' problems against the data `client` reads, and every panel of their
    dashboards that returned data in none of them."""
    # Model quality is checked on the monitors' points: test_dashboards_quality.py.
    checked = {s.dashboard for s in SCENARIOS}
    every = load_dashboards(ROOT / "grafana" / "dashboards")
    dashboards = {d.title: d for d in every if d.title in checked}
    problems: list[str] = []
    with_data: set[str] = set()
    for scenario in SCENARIOS:
        found, data = check_scenario(scenario, dashboards[scenario.dashboard], client)
        problems += found
        with_data |= data
    # Every panel shows something for at least one of the views above.
    for dashboard in dashboards.values():
        for panel in dashboard.panels:
            if f"{dashboard.title} / {panel.title}" not in with_data:
                problems.append(f"{dashboard.title} / {panel.title} never returned data")
    return problems


def test_every_dashboard_query_returns_the_expected_series(
    workers: Callable[..., Worker],
    unique: Callable[[str], str],
    database: str,
    tmp_path: Path,
) -> None:
    expected_points = load_through_the_pipeline(workers, unique, database, tmp_path)
    assert influx.wait_for_points(database, expected_points, timeout=120) == expected_points

    problems = check_scenarios(InfluxQLClient(INFLUX_URL, database))
    assert problems == [], "\n".join(problems)
