"""The enginewatch dashboard against InfluxDB, on the real workers' reports on themselves.

tests/recordings/bus.jsonl (every message type, and invalid lines) goes through
the real agents and the real archiver, each reporting on itself every second,
and two archive messages that are not archive messages go to the archiver.
Then both workers stop, and a third, reporting nothing, archives what is left,
so that InfluxDB holds exactly the archive topic's points. Every panel and
annotation query of the dashboard, interpolated as Grafana interpolates them
(tests/integration/test_dashboards.py `check_scenario`), must return what those
points give: sums and maxima value by value, and figures that depend on timing
(rates, CPU, memory) by their series and range. The reports are themselves
checked against what happened: every line counted by the first stage, every
dead letter on the topic counted under its reason's kind.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from enginewatch.core.deadletters import reason_kind
from enginewatch.core.influxql import InfluxQLClient
from enginewatch.core.points import ArchiveFormatError, Point, decode_archive
from enginewatch.dashboards.dashboards import load_dashboards
from enginewatch.dashboards.interpolation import TimeRange
from enginewatch.dashboards.panel_data import TimeSeries
from enginewatch.harness import influx, kafka
from enginewatch.harness.processes import Process, run_enginewatch
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

RECORDING = ROOT / "tests" / "recordings" / "bus.jsonl"
NOT_ARCHIVE_MESSAGES = [b"not an archive message", b""]
TITLE = "enginewatch"


@dataclass(frozen=True)
class Within:
    """Series by name, each with a value, every value within [low, high] (figures
    that depend on timing: rates, times, CPU, memory)."""

    names: frozenset[str]
    low: float = 0.0
    high: float = math.inf

    def __call__(self, series: list[TimeSeries], _table: Any) -> list[str]:
        got = {s.name: [float(v) for v in s.values if v is not None] for s in series}
        got = {name: values for name, values in got.items() if values}
        if set(got) != self.names:
            return [f"series {sorted(got)}, expected {sorted(self.names)}"]
        return [
            f"{name}: {values} not within [{self.low}, {self.high}]"
            for name, values in got.items()
            if not all(self.low <= v <= self.high for v in values)
        ]


def of(points: Iterable[Point], measurement: str) -> list[Point]:
    return [p for p in points if p.measurement == measurement]


def totals(points: Iterable[Point], field: str, *tags: str) -> dict[tuple[str, ...], Any]:
    """The field summed by the tags' values."""
    found: dict[tuple[str, ...], Any] = {}
    for p in points:
        if field in p.fields:
            key = tuple(p.tags[t] for t in tags)
            found[key] = found.get(key, 0) + p.fields[field]
    return found


def highest(points: Iterable[Point], field: str, *tags: str) -> dict[tuple[str, ...], Any]:
    found: dict[tuple[str, ...], Any] = {}
    for p in points:
        if field in p.fields:
            key = tuple(p.tags[t] for t in tags)
            found[key] = max(found.get(key, -math.inf), p.fields[field])
    return found


def latest(points: Iterable[Point], field: str, *tags: str) -> dict[tuple[str, ...], Any]:
    """The field of each group's latest point: what `last()` returns."""
    found: dict[tuple[str, ...], tuple[int, Any]] = {}
    for p in points:
        if field in p.fields:
            key = tuple(p.tags[t] for t in tags)
            if key not in found or p.time > found[key][0]:
                found[key] = (p.time, p.fields[field])
    return {key: value for key, (_, value) in found.items()}


def named(found: dict[tuple[str, ...], Any], sep: str = " ") -> dict[str, float]:
    return {sep.join(key): float(value) for key, value in found.items()}


def expectations(points: list[Point]) -> dict[str, Check]:
    stages, letters = of(points, "enginewatch_stage"), of(points, "enginewatch_dead_letters")
    lags, sinks, hosts = (
        of(points, m) for m in ("enginewatch_lag", "enginewatch_sink", "enginewatch_host")
    )
    by_stage = ("worker", "stage")
    stage_names = frozenset(named(totals(stages, "events", *by_stage)))
    sink_names = frozenset(named(totals(sinks, "points", "worker", "sink")))
    (host,) = {p.tags["host"] for p in hosts}
    columns = ("events", "batches", "errors", "dead_letters")
    summed = {f: totals(stages, f, *by_stage) for f in columns}
    rows_of_stages = [(*key, *(summed[f][key] for f in columns)) for key in summed["events"]]
    by_reason = totals(letters, "count", "worker", "stage", "reason")
    return {
        "Stage errors": Stat(sum(totals(stages, "errors").values())),
        "Dead letters": Stat(sum(by_reason.values())),
        "Consumer lag": Stat(sum(latest(lags, "lag", "worker", "topic", "partition").values())),
        "Points written": Stat(sum(totals(sinks, "points").values())),
        "Sink retries": Stat(sum(totals(sinks, "retries").values())),
        "Since a sink's last success": Stat(
            max(latest(sinks, "seconds_since_success", "worker", "sink", "instance").values())
        ),
        "Stages": rows(
            ("worker", "stage", "events", "batches", "errors", "dead_letters"), *rows_of_stages
        ),
        "Events per second by stage": Within(stage_names),
        "Batch time p99 by stage": Lines(named(highest(stages, "p99_seconds", *by_stage))),
        "Time per event by stage": Within(stage_names, high=1.0),
        "Consumer lag by topic": Within(frozenset(named(totals(lags, "lag", "worker", "topic")))),
        "Sink points per second": Within(sink_names),
        "Seconds since a sink's last success": Lines(
            named(highest(sinks, "seconds_since_success", "worker", "sink"))
        ),
        "Sink retries per interval": Lines(
            named(totals(sinks, "retries", "worker", "sink")), "sum"
        ),
        "Messages pending in a sink": Lines(
            named(highest(sinks, "pending_messages", "worker", "sink"))
        ),
        "Dead letters by stage and reason": Lines(
            {f"{stage}: {reason}": n for (_, stage, reason), n in by_reason.items()}, "sum"
        ),
        "Dead letters by reason": rows(
            ("worker", "stage", "reason", "count"), *((*k, n) for k, n in by_reason.items())
        ),
        "Host CPU": Within(frozenset(f"{host} {c}" for c in ("avg", "min", "max")), high=100.0),
        "Host memory and disk": Within(
            frozenset({f"{host} memory", f"{host} disk"}), low=1e-9, high=100.0
        ),
        "Host network and disk I/O": Within(
            frozenset(
                f"{host} {c}"
                for c in (
                    "external sent",
                    "external received",
                    "loopback sent",
                    "loopback received",
                    "disk read",
                    "disk written",
                )
            )
        ),
        "Worker CPU": Within(
            frozenset(named(totals(hosts, "process_cpu_percent", "worker", "instance")))
        ),
        "Worker memory": Within(
            frozenset(named(totals(hosts, "process_rss_bytes", "worker", "instance"))), low=1.0
        ),
    }


def archived(topic: str) -> list[Point]:
    points = []
    for record in kafka.read_all(topic):
        try:
            points += decode_archive(record.value or b"")
        except ArchiveFormatError:
            assert record.value in NOT_ARCHIVE_MESSAGES
    return points


def test_the_enginewatch_dashboard_shows_the_workers_reports(
    workers: Callable[..., Process],
    unique: Callable[[str], str],
    database: str,
    tmp_path: Path,
) -> None:
    notify, archive, dead = unique("notify"), unique("archive"), unique("dead")
    for topic in (notify, archive, dead):
        kafka.create_topic(topic, partitions=2)
    influx.create_database(database)
    topics = {"input_topic": notify, "archive_topic": archive, "dead_letter_topic": dead}
    app = unique("app")
    reporting = base_env(app, influx_bucket=database, partitions="2", self_interval="1", **topics)
    agents = workers(["agents", "-l", "info"], reporting, "agents")
    archiver = workers(["archiver", "-l", "info"], reporting, "archiver")
    for worker in (agents, archiver):
        worker.wait_for_log("Ready", timeout=90)
    lines = RECORDING.read_bytes().splitlines()
    replay = run_enginewatch(
        "replay", str(RECORDING), "--topic", notify, "--key", "src", env=reporting
    )
    assert replay.returncode == 0, replay.stderr
    kafka.produce(archive, NOT_ARCHIVE_MESSAGES)

    def reported(field: str, where: str) -> float:
        found = influx.rows(database, f'SELECT sum("{field}") FROM {where}')
        return float(found[0]["sum"]) if found else 0.0

    def dead_letters() -> list[dict[str, Any]]:
        return [orjson.loads(r.value or b"") for r in kafka.read_all(dead)]

    routed = "enginewatch_stage WHERE worker = 'agents' AND stage = 'route-by-engine'"
    assert wait_until(lambda: reported("events", routed) == len(lines), 120), agents.tail()
    letters = dead_letters()
    assert wait_until(
        lambda: reported("count", "enginewatch_dead_letters") == len(letters) > 0, 60
    ), archiver.tail()
    assert wait_until(lambda: reported("points", "enginewatch_sink") > 0, 30)
    agents.stop()
    archiver.stop()
    # What the two wrote last is archived by one that writes nothing of its own.
    quiet = base_env(app, influx_bucket=database, partitions="2", **topics)
    workers(["archiver", "-l", "info"], quiet, "drain")
    points = archived(archive)
    distinct = {(p.measurement, tuple(sorted(p.tags.items())), p.time) for p in points}
    assert influx.wait_for_points(database, len(distinct), timeout=120) == len(distinct)

    mine = [p for p in points if p.measurement.startswith("enginewatch_")]
    # The reports say what happened: every line taken by the first stage, every
    # dead letter of the topic under its worker and the kind of its reason.
    stages = totals(of(mine, "enginewatch_stage"), "events", "worker", "stage")
    assert stages[("agents", "route-by-engine")] == len(lines)
    by_kind: Counter[tuple[str, str]] = Counter()
    letter_points = of(mine, "enginewatch_dead_letters")
    for (name, _, reason), n in totals(letter_points, "count", "worker", "stage", "reason").items():
        by_kind[(name, reason)] += n
    assert by_kind == Counter((letter["stage"], reason_kind(letter["error"])) for letter in letters)
    times = [p.time // 1_000_000 for p in mine]
    time_range = TimeRange(min(times) - 1_000, max(times) + 1_000)

    (dashboard,) = [d for d in load_dashboards(ROOT / "grafana" / "dashboards") if d.title == TITLE]
    no_alerts: dict[str, Check] = {
        "Alerts firing": rows(ALERT_COLUMNS),
        "Alerts resolved": rows(ALERT_COLUMNS),
    }
    scenario = Scenario(TITLE, {}, {}, expectations(mine), no_alerts)
    problems, with_data = check_scenario(
        scenario, dashboard, InfluxQLClient(INFLUX_URL, database), time_range
    )
    for panel in dashboard.panels:
        if f"{TITLE} / {panel.title}" not in with_data:
            problems.append(f"{TITLE} / {panel.title} never returned data")
    assert problems == [], "\n".join(problems)

    # And `enginewatch snapshot` draws it from the same points, every query answered.
    drawn = run_enginewatch(
        "snapshot",
        "--dashboard", str(ROOT / "grafana" / "dashboards" / "pipeline.json"),
        "--from", str(time_range.from_ms), "--to", str(time_range.to_ms),
        "--out", str(tmp_path / "snapshots"),
        env=quiet, cwd=ROOT, timeout=240,
    )  # fmt: skip
    assert drawn.returncode == 0, drawn.stderr
    assert "WARNING" not in drawn.stderr, drawn.stderr
    assert drawn.stdout.split() == [str(tmp_path / "snapshots" / "enginewatch-pipeline.png")]
