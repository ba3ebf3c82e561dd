"""Workers watching themselves, on the real services: /readyz through an InfluxDB
outage, /metrics, and the self-report points that reach InfluxDB."""

from __future__ import annotations

from collections.abc import Callable

import requests

from enginewatch.harness import influx, kafka
from enginewatch.harness.processes import Process
from tests.support import archive
from tests.support.influxd import PrivateInfluxd, free_port
from tests.support.services import base_env
from tests.support.waiting import wait_until

DATABASE = "selfmetrics"
FIRST, SECOND = 100, 150
SINK_WITHIN = 2.0


def _get(port: int, path: str) -> tuple[int, str]:
    try:
        answer = requests.get(f"http://127.0.0.1:{port}{path}", timeout=2)
    except requests.ConnectionError:
        return 0, ""
    return answer.status_code, answer.text


def _sum(database: str, url: str, influxql: str) -> float:
    rows = influx.rows(database, influxql, url=url)
    return float(rows[0]["sum"]) if rows else 0.0


def test_readyz_follows_the_sink_through_an_influxdb_outage(
    influxd: PrivateInfluxd, workers: Callable[..., Process], unique: Callable[[str], str]
) -> None:
    topic, port = unique("archive"), free_port()
    kafka.create_topic(topic, partitions=2)
    env = base_env(
        unique("app"),
        archive_topic=topic,
        dead_letter_topic=unique("dead"),
        influx_url=influxd.url,
        influx_bucket=DATABASE,
        metrics_port=str(port),
        ready_sink_within=str(SINK_WITHIN),
        self_interval="1",
    )
    first, second = archive.sample_messages(FIRST), archive.sample_messages(SECOND, start=FIRST)
    archiver = workers(["archiver", "-l", "info"], env, name="archiver")
    archive.produce_messages(topic, first)
    assert wait_until(lambda: _get(port, "/readyz") == (200, "ready\n"), timeout=90), (
        archiver.tail()
    )
    assert _get(port, "/healthz") == (200, "ok\n")
    written = sum(len(message) for message in first)
    assert wait_until(lambda: archive.count_in(influxd.url, DATABASE) >= written)

    influxd.stop()
    archive.produce_messages(topic, second, first_offset=FIRST)
    assert wait_until(lambda: _get(port, "/readyz")[0] == 503, timeout=60), archiver.tail()
    status, reason = _get(port, "/readyz")
    assert reason.startswith("not ready: the sink has failed for"), (status, reason)
    assert _get(port, "/healthz") == (200, "ok\n"), "alive all along"

    influxd.start()
    assert wait_until(lambda: _get(port, "/readyz") == (200, "ready\n"), timeout=90), (
        archiver.tail()
    )
    points = sum(len(message) for message in first + second)
    assert wait_until(lambda: archive.count_in(influxd.url, DATABASE) >= points)

    # /metrics and the points on itself tell the same story: every point of the
    # input written, with retries during the outage.
    _, metrics = _get(port, "/metrics")
    lines = {
        line.split(" ")[0]: float(line.split(" ")[1])
        for line in metrics.splitlines()
        if line.startswith("enginewatch_")
    }
    labels = '{sink="influxdb",worker="archiver"}'
    assert lines[f"enginewatch_sink_points_total{labels}"] >= points
    assert lines[f"enginewatch_sink_retries_total{labels}"] > 0
    assert lines['enginewatch_stage_events_total{stage="archive",worker="archiver"}'] >= (
        FIRST + SECOND
    )
    stage_events = (
        "SELECT sum(events) FROM enginewatch_stage WHERE worker = 'archiver' AND stage = 'archive'"
    )
    # The archiver also archives its own reports: their messages count as its events.
    assert wait_until(lambda: _sum(DATABASE, influxd.url, stage_events) >= FIRST + SECOND)
    assert _sum(DATABASE, influxd.url, "SELECT sum(retries) FROM enginewatch_sink") > 0
    host = influx.rows(DATABASE, "SELECT last(memory_percent) FROM enginewatch_host", influxd.url)
    assert host, "no host points"
    assert 0 < host[0]["last"] <= 100
    assert 0 < lines["enginewatch_host_memory_percent"] <= 100
    archiver.check()


def test_the_agents_report_their_stages_and_lag(
    workers: Callable[..., Process], unique: Callable[[str], str], database: str
) -> None:
    notify, archive_topic = unique("notify"), unique("archive")
    for topic in (notify, archive_topic):
        kafka.create_topic(topic, partitions=2)
    env = base_env(
        unique("app"),
        input_topic=notify,
        archive_topic=archive_topic,
        dead_letter_topic=unique("dead"),
        influx_bucket=database,
        partitions="2",
        self_interval="1",
    )
    inputs = [
        b'{"type":"sensor-report","src":"e%d","timestamp":"2026-03-02T08:00:%02dZ",'
        b'"tap":"manifold.0.records.count","data":5,"delta_time":1}' % (i % 3, i % 60)
        for i in range(120)
    ]
    for worker in ("agents", "archiver"):
        workers([worker, "-l", "info"], env, name=worker).wait_for_log("Ready", timeout=90)
    kafka.produce(notify, inputs, keys=[b"e%d" % (i % 3) for i in range(120)])

    def events(stage: str) -> float:
        return _sum(
            database,
            influx.LOCAL_URL,
            f"SELECT sum(events) FROM enginewatch_stage WHERE worker = 'agents' AND "
            f"stage = '{stage}'",
        )

    assert wait_until(lambda: events("route-by-engine") == len(inputs), timeout=90)
    assert wait_until(lambda: events("derive") > 0, timeout=30)
    lag = influx.rows(
        database,
        f"SELECT last(lag) FROM enginewatch_lag WHERE worker = 'agents' AND topic = '{notify}' "
        "GROUP BY partition",
    )
    assert lag, "no lag points for the input"
