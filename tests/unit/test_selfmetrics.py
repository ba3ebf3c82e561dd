"""A worker's figures on itself: enginewatch/core/selfmetrics.py and observe.py's routes."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import generate_latest

from enginewatch.core.observe import http_app
from enginewatch.core.selfmetrics import (
    REGISTRY,
    SinkStats,
    StageTimes,
    lag_points,
    quantile,
    readiness,
)


def test_quantiles_are_nearest_rank() -> None:
    values = [0.5, 0.1, 0.4, 0.2, 0.3]
    assert quantile(values, 0.5) == 0.3
    assert quantile(values, 0.99) == 0.5
    assert quantile(values, 0.0) == 0.1
    assert quantile([7.0], 0.99) == 7.0


def test_a_stage_reports_its_interval_then_starts_again() -> None:
    clock = _Clock(50.0)
    times = StageTimes("agents-under-test", clock)
    reasons = ("not JSON: unexpected character", "tap 'a' count is negative: -1", "not JSON: x")
    for seconds, reason in zip((0.1, 0.3, 0.2), reasons, strict=True):
        times.record("derive", 10, seconds, dead_letters=[reason])
    times.record("route-by-engine", 5, 0.05)
    times.error("route-by-engine")
    clock.now = 60.0
    points = times.points("host:1", 1_000)
    derive_tags = {"worker": "agents-under-test", "stage": "derive", "instance": "host:1"}
    assert [(p.measurement, dict(p.tags)) for p in points] == [
        ("enginewatch_stage", derive_tags),
        ("enginewatch_dead_letters", {**derive_tags, "reason": "not JSON: unexpected character"}),
        ("enginewatch_dead_letters", {**derive_tags, "reason": "not JSON: x"}),
        ("enginewatch_dead_letters", {**derive_tags, "reason": "tap '*' count is negative"}),
        (
            "enginewatch_stage",
            {"worker": "agents-under-test", "stage": "route-by-engine", "instance": "host:1"},
        ),
    ]
    derive, *letters, route = (dict(p.fields) for p in points)
    assert derive == {
        "events": 30,
        "events_per_second": 3.0,  # over the 10 s since the StageTimes began
        "batches": 3,
        "errors": 0,
        "dead_letters": 3,
        "seconds": pytest.approx(0.6),
        "p50_seconds": 0.2,
        "p99_seconds": 0.3,
    }
    assert letters == [{"count": 1}] * 3
    assert route["errors"] == 1
    assert route["events"] == 5
    assert all(p.time == 1_000 for p in points)
    assert times.points("host:1", 2_000) == [], "an interval without batches has no points"
    clock.now = 64.0
    times.record("derive", 2, 0.01)
    assert times.points("host:1", 3_000)[0].fields["events_per_second"] == 0.5, (
        "a rate over the time since the last report"
    )


def test_prometheus_counts_what_the_stages_record() -> None:
    times = StageTimes("prom-under-test")
    times.record("derive", 4, 0.01, dead_letters=["not JSON: a", "not JSON: b"])
    times.record("derive", 6, 0.02)
    text = generate_latest(REGISTRY).decode()
    assert 'enginewatch_stage_events_total{stage="derive",worker="prom-under-test"} 10.0' in text
    labels = 'reason="not JSON: a",stage="derive",worker="prom-under-test"'
    assert f"enginewatch_stage_dead_letters_total{{{labels}}} 1.0" in text
    assert (
        'enginewatch_stage_batch_seconds_count{stage="derive",worker="prom-under-test"} 2.0' in text
    )


class _Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_a_sink_reports_amounts_since_its_last_report() -> None:
    clock = _Clock(100.0)
    stats = SinkStats("archiver", "influx-under-test", clock)
    for _ in range(3):
        stats.request()
    stats.retry()
    clock.now = 101.0
    stats.wrote(200, 5_000)
    clock.now = 105.0
    first = stats.point("host:1", 7, now=clock.now)
    assert first.measurement == "enginewatch_sink"
    assert dict(first.tags) == {
        "worker": "archiver",
        "sink": "influx-under-test",
        "instance": "host:1",
    }
    assert dict(first.fields) == {
        "points": 200,
        "bytes": 5_000,
        "requests": 3,
        "retries": 1,
        "seconds_since_success": 4.0,
        "pending_messages": 0,
        "points_per_second": 40.0,  # 200 in the 5 s since the start
    }
    assert stats.failing_since is None, "a success ends the failure"
    stats.wrote(50, 1_000)
    second = stats.point("host:1", 8, now=clock.now + 2)
    assert second.fields["points"] == 50
    assert second.fields["points_per_second"] == 25.0
    assert second.fields["requests"] == 0
    # /metrics counts at once, without waiting for a report.
    stats.wrote(7, 70)
    text = generate_latest(REGISTRY).decode()
    labels = '{sink="influx-under-test",worker="archiver"}'
    assert f"enginewatch_sink_points_total{labels} 257.0" in text
    assert f"enginewatch_sink_retries_total{labels} 1.0" in text
    clock.now = 110.0
    assert (
        f"enginewatch_sink_seconds_since_success{labels} 5.0" in generate_latest(REGISTRY).decode()
    )


def test_a_failing_sink_counts_from_its_first_failure_and_a_new_one_from_its_start() -> None:
    clock = _Clock(100.0)
    stats = SinkStats("archiver", "never-wrote", clock)
    assert stats.point("host:1", 7, now=130.0).fields["seconds_since_success"] == 30.0
    assert stats.failing_for(130.0) == 0.0
    clock.now = 131.0
    stats.retry()
    clock.now = 140.0
    stats.retry()
    assert stats.failing_for(143.0) == 12.0


def test_lag_points_per_partition() -> None:
    points = lag_points("agents", {("notify", 1): 5, ("notify", 0): 0}, "host:1", 9)
    assert [(p.tags["partition"], p.fields["lag"]) for p in points] == [("0", 0), ("1", 5)]
    assert all(p.measurement == "enginewatch_lag" and p.tags["topic"] == "notify" for p in points)


@pytest.mark.parametrize(
    ("assigned", "rebalancing", "failing", "reason"),
    [
        (4, False, 0.0, None),
        (4, False, 29.9, None),
        (4, False, 30.0, "the sink has failed for 30s without a success"),
        (0, False, 0.0, "no partition assigned"),
        (4, True, 0.0, "rebalancing"),
    ],
)
def test_readiness(assigned: int, rebalancing: bool, failing: float, reason: str | None) -> None:
    assert readiness(assigned, rebalancing, failing, within=30.0) == reason


def test_the_routes_answer_as_the_worker_stands() -> None:
    async def run() -> list[tuple[int, str]]:
        reason: list[str | None] = [None]
        client = TestClient(TestServer(http_app(lambda: reason[0])))
        await client.start_server()
        try:
            answers = []
            for path in ("/healthz", "/readyz"):
                response = await client.get(path)
                answers.append((response.status, await response.text()))
            reason[0] = "no partition assigned"
            response = await client.get("/readyz")
            answers.append((response.status, await response.text()))
            response = await client.get("/metrics")
            answers.append((response.status, response.headers["Content-Type"].split(";")[0]))
            return answers
        finally:
            await client.close()

    assert asyncio.run(run()) == [
        (200, "ok\n"),
        (200, "ready\n"),
        (503, "not ready: no partition assigned\n"),
        (200, "text/plain"),
    ]
