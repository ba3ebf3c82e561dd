"""A worker watching itself: its figures on the archive topic and on HTTP.

Every ENGINEWATCH_SELF_INTERVAL seconds (0: never) the worker sends one archive message of
its own points (enginewatch/core/selfmetrics.py, and the host's,
enginewatch/core/host.py), keyed by its instance (`host:pid`). With
ENGINEWATCH_METRICS_PORT set it also serves, on every interface:

- `/metrics`: the same figures in Prometheus's text format;
- `/healthz`: 200 while the worker's event loop answers;
- `/readyz`: 200 when it reads partitions and its sink works, else 503 and why
  (`selfmetrics.readiness`).

The points are sent without waiting for the broker: a report on the worker
never holds up its work, and one lost in a broker outage is simply missing.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable

import faust
from aiohttp import web
from faust.types import TP
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from enginewatch.core.host import HostSampler
from enginewatch.core.points import encode_archive
from enginewatch.core.selfmetrics import (
    REGISTRY,
    SinkStats,
    StageTimes,
    expose_host,
    lag_points,
    readiness,
)
from enginewatch.core.settings import Settings

logger = logging.getLogger(__name__)


def instance_name() -> str:
    """This process among the workers: its host and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"


def watch_self(
    app: faust.App, settings: Settings, stages: StageTimes, sink: SinkStats | None = None
) -> None:
    """Add the self report (a timer) and, when a port is set, the HTTP server to `app`."""
    config = settings.observe
    archive_topic = settings.topics.archive_topic
    worker = stages.worker
    instance = instance_name()
    host = HostSampler(instance, worker=worker)

    async def report() -> None:
        now_ns, now = time.time_ns(), time.monotonic()
        sample = host.sample(now_ns)
        expose_host(sample)
        points = [sample, *stages.points(instance, now_ns)]
        points += lag_points(worker, lags(app), instance, now_ns)
        if sink is not None:
            points.append(sink.point(instance, now_ns, now))
        await app.producer.send(
            archive_topic, instance.encode(), encode_archive(points), None, None, None
        )

    if config.self_interval > 0:
        app.timer(config.self_interval, name=f"{worker}-self-report")(report)

    def not_ready() -> str | None:
        failing = sink.failing_for(time.monotonic()) if sink is not None else 0.0
        return readiness(
            len(stream_partitions(app)), app.rebalancing, failing, config.ready_sink_within
        )

    if config.metrics_port is not None:
        port = config.metrics_port

        async def serve() -> None:
            runner = web.AppRunner(http_app(not_ready), access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "0.0.0.0", port).start()
            logger.info("serving /metrics, /healthz and /readyz on port %d", port)

        app.task(serve)


def http_app(not_ready: Callable[[], str | None]) -> web.Application:
    """The three routes; `not_ready()` says why the worker is not ready, or None."""

    async def metrics(_: web.Request) -> web.Response:
        body = generate_latest(REGISTRY)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def readyz(_: web.Request) -> web.Response:
        reason = not_ready()
        if reason is None:
            return web.Response(text="ready\n")
        return web.Response(status=503, text=f"not ready: {reason}\n")

    routes = web.Application()
    routes.add_routes(
        [web.get("/metrics", metrics), web.get("/healthz", healthz), web.get("/readyz", readyz)]
    )
    return routes


def stream_partitions(app: faust.App) -> set[TP]:
    """The partitions the worker's agents read (its tables' changelogs aside)."""
    changelogs = app.tables.changelog_topics
    return {tp for tp in app.assignor.assigned_actives() if tp.topic not in changelogs}


def lags(app: faust.App) -> dict[tuple[str, int], int]:
    """Messages between each read partition's end (as last fetched) and its commit."""
    monitor = app.monitor
    found = {}
    for tp in stream_partitions(app):
        end = monitor.tp_end_offsets.get(tp)
        committed = monitor.tp_committed_offsets.get(tp)
        if end is not None:
            found[(tp.topic, tp.partition)] = max(0, end - (committed or 0))
    return found
