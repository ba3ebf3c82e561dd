"""`enginewatch top`'s gathering when neither InfluxDB nor the broker answers: the screen
says so instead of failing (both addresses are closed ports on loopback)."""

from __future__ import annotations

import asyncio
import socket

from enginewatch.core.influxql import InfluxQLClient
from enginewatch.top.command import Gatherer
from enginewatch.top.lag import LagReader


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # nothing listens once the socket is closed


def test_unanswered_services_are_problems_on_the_screen() -> None:
    influx_port, kafka_port = closed_port(), closed_port()
    client = InfluxQLClient(f"http://127.0.0.1:{influx_port}", "db", timeout=2)
    lag = LagReader(f"127.0.0.1:{kafka_port}", "app")
    snapshot = asyncio.run(Gatherer("app · db", client, lag, 60.0).once())
    assert snapshot.lag is None
    assert not snapshot.models
    assert len(snapshot.problems) == 2
    influx_problem, kafka_problem = snapshot.problems
    assert influx_problem.startswith(f"InfluxDB at http://127.0.0.1:{influx_port} unreachable")
    assert kafka_problem.startswith(f"Kafka at 127.0.0.1:{kafka_port}:")
    assert LagReader("127.0.0.1:9092", "app").groups == {
        "agents": "app-agents",
        "archiver": "app-archiver",
        "alerts": "app-alerts",
    }
