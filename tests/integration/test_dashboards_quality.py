"""The Model quality dashboard against InfluxDB, on points of the real monitors worker.

Two models' streams go through the real monitors worker and the real archiver
into the real InfluxDB: *lstm*'s input stream (a numeric field with fixed
histogram edges and a categorical one; its distribution shifts in the third
window; a record without the number, one that is not JSON) profiled and
checked for drift against the previous window, and its predictions joined
with the truth (regression; one prediction never gets its truth); *churn*'s
predictions and truths (classification). Then every variable, panel and
annotation query of the dashboard, interpolated as Grafana interpolates them
(tests/integration/test_dashboards.py `check_scenario`), runs against
InfluxDB and must return, series by series and value by value, what the pure
stages (monitors/stage.py) give over the same records in one clean run.

Each topic has one partition and its records are in time order; the label
delay (60 s) outlasts the data, so no window of the join closes before every
truth came, however the worker interleaves the topics. Last come one record
per topic far later, which closes every window before it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from enginewatch.core.influxql import InfluxQLClient
from enginewatch.core.points import Origin, decode_archive
from enginewatch.dashboards.dashboards import load_dashboards
from enginewatch.dashboards.interpolation import ALL_VALUE, TimeRange
from enginewatch.dashboards.panel_data import TimeSeries
from enginewatch.harness import influx, kafka
from enginewatch.harness.processes import Process
from monitors.app import observations_topic
from monitors.config import load_monitors
from monitors.records import readers
from monitors.stage import ObservationInput, RecordInput, evaluate, intake
from tests.integration.test_dashboards import (
    ALERT_COLUMNS,
    ROOT,
    Check,
    Lines,
    Scenario,
    Stat,
    check_scenario,
    rows,
)
from tests.support.services import INFLUX_URL, base_env
from tests.support.waiting import wait_until

S = 1_000_000_000
T0 = 1_767_225_600  # 2026-01-01T00:00:00Z, seconds
T0_MS = T0 * 1000
RANGE = TimeRange(T0_MS - 60_000, T0_MS + 120_000)
WINDOWS = 4
CLOSING = T0 + 95  # a record per topic here closes windows 0 to 3
MONITORS = """
monitors:
  - name: lstm-watch
    model: lstm
    window: 10s
    lateness: 0s
    time: ts
    streams:
      - topic: {inputs}
        name: input
        fields:
          load: {{type: numeric, buckets: [2, 4, 6, 8]}}
          region: categorical
    drift: {{reference: previous}}
    quality:
      prediction: {{topic: {predictions}, field: yhat, id: id}}
      truth: {{topic: {truths}, field: y, id: id}}
      label_delay: 60s
      threshold: 1.5
  - name: churn-watch
    model: churn
    window: 10s
    lateness: 0s
    time: ts
    quality:
      prediction: {{topic: {labels}, field: label, id: id}}
      truth: {{topic: {outcomes}, field: label, id: id}}
      task: classification
      label_delay: 60s
"""
ROLES = ("inputs", "predictions", "truths", "labels", "outcomes")


def records(k: int) -> dict[str, list[bytes]]:
    """Window k's records by role, each topic's in time order."""
    base = T0 + 10 * k
    shift = 4.0 if k >= 2 else 0.0
    inputs = [
        orjson.dumps(
            {
                "ts": base + i * 0.45,
                "load": shift + (i * 7 % 11) / 2,
                "region": ("us" if i % 3 else "eu") if k >= 2 else ("eu" if i % 3 else "us"),
            }
        )
        for i in range(20)
    ]
    if k == 0:
        inputs[3] = orjson.dumps({"ts": base + 3 * 0.45, "region": "eu"})  # missing load
        inputs.insert(5, b"not json")
    predictions = [
        orjson.dumps({"id": f"r{k}-{i}", "ts": base + i, "yhat": 10.0 + i + (k >= 2) * i * 0.5})
        for i in range(6)
    ]
    truths = [
        orjson.dumps({"id": f"r{k}-{i}", "ts": base + i + 2, "y": 10.0 + i + (i % 3 - 1)})
        for i in range(6)
        if not (k == 1 and i == 5)  # never comes: unmatched
    ]
    labels = [
        orjson.dumps(
            {"id": f"c{k}-{i}", "ts": base + i, "label": "leave" if i % 3 == 0 else "stay"}
        )
        for i in range(8)
    ]
    outcomes = [
        orjson.dumps(
            {
                "id": f"c{k}-{i}",
                "ts": base + i + 1,
                "label": "leave" if i % (2 + k) == 0 else "stay",
            }
        )
        for i in range(8)
    ]
    return dict(zip(ROLES, (inputs, predictions, truths, labels, outcomes), strict=True))


def closing() -> dict[str, list[bytes]]:
    return {
        "inputs": [orjson.dumps({"ts": CLOSING, "load": 1.0, "region": "eu"})],
        "predictions": [orjson.dumps({"id": "r-end", "ts": CLOSING, "yhat": 1.0})],
        "truths": [orjson.dumps({"id": "r-end", "ts": CLOSING, "y": 1.0})],
        "labels": [orjson.dumps({"id": "c-end", "ts": CLOSING, "label": "stay"})],
        "outcomes": [orjson.dumps({"id": "c-end", "ts": CLOSING, "label": "stay"})],
    }


Point = tuple[str, dict[str, str], int, dict[str, Any]]  # measurement, tags, time (ns), fields


def reference(
    path: Path, topics: Mapping[str, str], batches: Iterable[dict[str, list[bytes]]]
) -> list[Point]:
    """The pure stages over the batches, in order, as one clean run."""
    monitors = load_monitors(path)
    by_topic = readers(monitors)
    offsets: dict[str, int] = {}
    states: dict[str, Any] = {}
    points: list[Point] = []
    internal = 0
    for batch in batches:
        taken = []
        for role, values in batch.items():
            for value in values:
                offsets[role] = offsets.get(role, -1) + 1
                taken.append(RecordInput(Origin(topics[role], 0, offsets[role]), 0, value))
        observations = []
        for _, value in intake(taken, by_topic).observations:
            observations.append(ObservationInput(Origin("observations", 0, internal), value))
            internal += 1
        output = evaluate(observations, monitors, states)
        for key, (_, state) in output.states.items():
            states[key] = state
        for _, message in output.points:
            points += [
                (p.measurement, dict(p.tags), p.time, dict(p.fields))
                for p in decode_archive(message)
            ]
    return points


# --- what each panel must show, from the reference points ---------------------------


@dataclass(frozen=True)
class Windows:
    """Time series by name, each with its values in time order; a series all of
    nulls (a field the model's monitors never write, such as a regression's
    accuracy) counts as absent."""

    expected: dict[str, list[float]]

    def __call__(self, series: list[TimeSeries], _table: Any) -> list[str]:
        got = {s.name: [float(v) for v in s.values if v is not None] for s in series}
        got = {name: values for name, values in got.items() if values}
        wanted = {name: values for name, values in self.expected.items() if values}
        if set(got) != set(wanted):
            return [f"series {sorted(got)}, expected {sorted(wanted)}"]
        return [
            f"{name}: values {values}, expected {wanted[name]}"
            for name, values in got.items()
            if len(values) != len(wanted[name])
            or not all(
                math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
                for a, b in zip(values, wanted[name], strict=True)
            )
        ]


@dataclass(frozen=True)
class Positive:
    """Time series by name, every value above 0 (a state's size depends on how
    the worker batched its input, so no exact value is expected)."""

    names: frozenset[str]

    def __call__(self, series: list[TimeSeries], _table: Any) -> list[str]:
        got = {s.name: [v for v in s.values if v is not None] for s in series}
        got = {name: values for name, values in got.items() if values}
        if set(got) != self.names:
            return [f"series {sorted(got)}, expected {sorted(self.names)}"]
        return [f"{name}: {values}" for name, values in got.items() if min(values) <= 0]


def series(
    points: list[Point],
    measurement: str,
    columns: Mapping[str, str],
    name: Callable[[Mapping[str, str], str], str],
    where: Callable[[Mapping[str, str]], bool] = lambda tags: True,
) -> dict[str, list[float]]:
    """The values of `columns` (field -> column name) by series name, in time order."""
    found: dict[str, list[tuple[int, float]]] = {}
    for m, tags, time, fields in points:
        if m != measurement or not where(tags):
            continue
        for field_name, column in columns.items():
            if field_name in fields:
                found.setdefault(name(tags, column), []).append((time, float(fields[field_name])))
    return {n: [v for _, v in sorted(values)] for n, values in found.items()}


def latest(points: list[Point], measurement: str, field_name: str) -> float | None:
    """The value of the latest point that has the field: what `last()` returns."""
    chosen = [(t, f[field_name]) for m, _, t, f in points if m == measurement and field_name in f]
    return float(max(chosen)[1]) if chosen else None


def is_stream(tags: Mapping[str, str]) -> bool:
    return tags.get("field") == "*"


def is_field(tags: Mapping[str, str]) -> bool:
    return tags.get("field") != "*"


def is_load(tags: Mapping[str, str]) -> bool:
    return tags.get("field") == "load"


def monitor_column(tags: Mapping[str, str], column: str) -> str:
    return f"{tags['monitor']} {column}"


def stream_field(tags: Mapping[str, str], _column: str) -> str:
    return f"{tags['stream']} {tags['field']}"


def expectations(points: list[Point], model: str) -> dict[str, Check]:
    mine = [p for p in points if p[1].get("model") == model]
    streams = [p for p in mine if is_stream(p[1])]
    drifted = series(mine, "data_drift", {"drifted": ""}, stream_field)
    per_stream = series(streams, "data_drift", {"drifted_fields": ""}, stream_field)
    quantiles = {q: q for q in ("p5", "p25", "p50", "p75", "p95")}
    return {
        "Stream drift share": Stat(latest(streams, "data_drift", "drift_share")),
        "Drifted fields": Stat(sum(v[-1] for v in per_stream.values()) if per_stream else None),
        "MAE": Stat(latest(mine, "model_quality", "mae")),
        "Label coverage": Stat(latest(mine, "model_quality", "coverage")),
        "Drift share by stream": Windows(
            series(
                mine,
                "data_drift",
                {"drift_share": ""},
                lambda t, _: f"{t['monitor']} {t['stream']}",
                is_stream,
            )
        ),
        "Drift statistic by field": Windows(
            series(mine, "data_drift", {"statistic": ""}, stream_field, is_field)
        ),
        "Drifted fields over time": Lines({n: v[-1] for n, v in drifted.items()}, "last"),
        "Quantiles of $field": Windows(
            series(mine, "data_profile", quantiles, lambda _, c: c, is_load)
        ),
        "Histogram of $field": Windows(
            series(mine, "data_histogram", {"count": ""}, lambda t, _: t["bucket"], is_load)
        ),
        "Prediction error": Windows(
            series(
                mine,
                "model_quality",
                {"mae": "MAE", "rmse": "RMSE", "bias": "bias"},
                monitor_column,
            )
        ),
        "Label coverage and accuracy": Windows(
            series(
                mine,
                "model_quality",
                {"coverage": "coverage", "accuracy": "accuracy"},
                monitor_column,
            )
        ),
        "Matched and unmatched predictions": Windows(
            series(
                mine,
                "model_quality",
                {"matched": "matched", "unmatched": "unmatched"},
                monitor_column,
            )
        ),
        "Errors above the threshold": Windows(
            series(mine, "model_quality", {"above_threshold": ""}, lambda t, _: t["monitor"])
        ),
        "Label latency": Windows(
            series(
                mine,
                "model_quality",
                {"label_latency": "mean", "label_latency_max": "max"},
                monitor_column,
            )
        ),
        "Missing and invalid values": Windows(
            series(
                mine,
                "data_profile",
                {"missing": "missing", "invalid": "invalid"},
                lambda t, c: f"{t['field']} {c}",
                is_field,
            )
        ),
        "F1 by class": Windows(
            series(
                mine, "model_quality_class", {"f1": ""}, lambda t, _: f"{t['monitor']} {t['class']}"
            )
        ),
        "Monitor state": Positive(frozenset({f"{model}-watch"})),
    }


NO_ALERTS: dict[str, Check] = {
    "Alerts firing": rows(ALERT_COLUMNS),
    "Alerts resolved": rows(ALERT_COLUMNS),
}


def test_model_quality_queries_return_the_monitors_figures(
    workers: Callable[..., Process],
    unique: Callable[[str], str],
    database: str,
    tmp_path: Path,
) -> None:
    topics = {role: unique(role) for role in ROLES}
    for topic in topics.values():
        kafka.create_topic(topic, 1)
    path = tmp_path / "monitors.yaml"
    path.write_text(MONITORS.format(**topics), encoding="utf-8")
    app_id = unique("app")
    env = base_env(
        app_id,
        archive_topic=unique("archive"),
        dead_letter_topic=unique("dead"),
        monitors=str(path),
        partitions="1",
        influx_bucket=database,
        batch_seconds="0.2",
    )
    influx.create_database(database)
    workers(["archiver", "-l", "info"], env, name="archiver")
    monitor = workers(["monitors", "-l", "info"], env, name="monitors")
    monitor.wait_for_log("Ready", timeout=90)

    def produce(batch: dict[str, list[bytes]]) -> int:
        for role, values in batch.items():
            kafka.produce(topics[role], values, partition=0)
        # Each record is read by one monitor: one observation each.
        return sum(len(values) for values in batch.values())

    def observed() -> int:
        internal = observations_topic(app_id)
        found = kafka.read_all(internal) if kafka.partitions(internal) else []
        return len({(o["k"], *o["o"]) for r in found for o in orjson.loads(r.value or b"[]")})

    main: dict[str, list[bytes]] = {role: [] for role in ROLES}
    for k in range(WINDOWS):
        for role, values in records(k).items():
            main[role] += values
    sent = produce(main)
    assert wait_until(lambda: observed() >= sent, 90), monitor.tail()
    sent += produce(closing())

    wanted = reference(path, topics, [main, closing()])
    measured = [p for p in wanted if p[0] != "monitor_state"]
    # Windows 0 to 3 of both models, every measurement the dashboard draws.
    assert {p[2] for p in measured} == {(T0 + 10 * k) * S for k in range(WINDOWS)}
    assert {p[0] for p in measured} == {
        "data_profile",
        "data_histogram",
        "data_drift",
        "model_quality",
        "model_quality_class",
    }
    tag_names = {"model", "monitor", "stream", "field", "window", "bucket", "class"}

    def in_influx() -> set[tuple[Any, ...]]:
        """Every point InfluxDB holds of the measurements: measurement, tags, time."""
        found = set()
        for measurement in {p[0] for p in measured}:
            try:
                answer = influx.rows(database, f'SELECT * FROM "{measurement}" GROUP BY *')
            except Exception:  # the database or measurement is not there yet
                return set()
            for row in answer:
                tags = {k: v for k, v in row.items() if k in tag_names and v not in (None, "")}
                found.add((measurement, tuple(sorted(tags.items())), row["time"]))
        return found

    points = {(m, tuple(sorted(tags.items())), time) for m, tags, time, _ in measured}
    assert wait_until(lambda: in_influx() >= points, 90), monitor.tail()
    assert in_influx() == points

    client = InfluxQLClient(INFLUX_URL, database)
    (dashboard,) = [
        d for d in load_dashboards(ROOT / "grafana" / "dashboards") if d.title == "Model quality"
    ]
    scenarios = [
        # Opened without choosing: the first model (churn), all its monitors; it
        # profiles no stream, so $field has no value (Grafana's None).
        Scenario(
            "Model quality",
            {},
            {
                "model": (["churn", "lstm"], "churn"),
                "monitor": (["churn-watch"], (ALL_VALUE,)),
                "field": ([], ""),
            },
            expectations(wanted, "churn"),
            NO_ALERTS,
        ),
        Scenario(
            "Model quality",
            {"model": ["lstm"]},
            {
                "model": (["churn", "lstm"], "lstm"),
                "monitor": (["lstm-watch"], (ALL_VALUE,)),
                "field": (["load", "region"], "load"),
            },
            expectations(wanted, "lstm"),
            NO_ALERTS,
        ),
    ]
    problems: list[str] = []
    with_data: set[str] = set()
    for scenario in scenarios:
        found, data = check_scenario(scenario, dashboard, client, RANGE)
        problems += found
        with_data |= data
    for panel in dashboard.panels:
        if f"Model quality / {panel.title}" not in with_data:
            problems.append(f"Model quality / {panel.title} never returned data")
    assert problems == [], "\n".join(problems)

    # What the figures say, beside matching the pure stages: drift where the
    # input shifted, the unmatched prediction, the record without its number.
    def at(measurement: str, k: int, field_name: str) -> dict[str, Any]:
        (fields,) = [
            f
            for m, tags, t, f in wanted
            if m == measurement
            and t == (T0 + 10 * k) * S
            and tags.get("field") == field_name
            and tags["model"] == "lstm"
        ]
        return fields

    assert at("data_drift", 2, "load")["drifted"] == 1
    assert at("data_drift", 1, "load")["drifted"] == 0
    assert at("model_quality", 1, "yhat")["unmatched"] == 1
    assert at("data_profile", 0, "load")["missing"] == 1
