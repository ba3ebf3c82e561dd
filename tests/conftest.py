"""Shared fixtures: the real local services, unique names, worker processes."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from enginewatch.harness import influx
from enginewatch.harness.processes import Process, enginewatch_command
from tests.support.influxd import PrivateInfluxd
from tests.support.services import ensure_services

IGNORED_TOPIC = "Ignoring missing topic"  # what Faust's partition assignor logs
# A worker's log line at WARNING or above, as Faust's log format writes its level.
_ALARM = re.compile(r"\] \[(WARNING|ERROR|CRITICAL)\] ")


@pytest.fixture(scope="session")
def services() -> None:
    """Kafka and InfluxDB on loopback, started when absent (never skipped)."""
    ensure_services()


@pytest.fixture
def influxd(tmp_path: Path) -> Iterator[PrivateInfluxd]:
    """An InfluxDB of the test's own, on a free port, to stop, kill or freeze."""
    server = PrivateInfluxd(tmp_path / "influxd")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def unique() -> Callable[[str], str]:
    """Unique names for topics, consumer groups and databases, one set per test."""
    token = uuid.uuid4().hex[:10]

    def make(prefix: str) -> str:
        return f"t{token}-{prefix}"

    return make


@pytest.fixture
def database(services: None, unique: Callable[[str], str]) -> Iterator[str]:
    """A fresh InfluxDB database name, dropped after the test."""
    name = unique("db").replace("-", "_")
    yield name
    influx.drop_database(name)


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Callable[..., Process]]:
    """Start enginewatch processes; all are stopped after the test, logs shown on failure."""
    started: list[Process] = []

    def start(args: list[str], env: dict[str, str], name: str = "worker") -> Process:
        log = tmp_path / f"{name}-{len(started)}.log"
        # Faust keeps an `{app id}-data` folder in its working directory.
        worker = Process(enginewatch_command(*args), env, log, cwd=tmp_path).start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()
        log = worker.log()
        print(f"--- {worker.log_path.name} ---\n{log[-6000:]}")
        # What went wrong often shows early, in a log whose tail is its shutdown.
        alarms = [line for line in log.splitlines() if _ALARM.search(line)]
        if alarms:
            print(
                f"--- {worker.log_path.name}: warnings and errors ---\n" + "\n".join(alarms[-60:])
            )
    # A worker that subscribed before a topic's metadata was visible ignores the
    # topic for good: whatever the test checked, that must never happen.
    ignoring = [w.log_path.name for w in started if IGNORED_TOPIC in w.log()]
    assert ignoring == [], f"a worker ignored a missing topic: {ignoring}"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Everything under tests/integration needs the services.
    for item in items:
        if "integration" in Path(str(item.fspath)).parts:
            item.add_marker(pytest.mark.integration)
            item.add_marker(pytest.mark.usefixtures("services"))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # In CI every test runs: a skipped test (an integration test that could not
    # reach its services, say) fails the run instead of passing it quietly.
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter is not None else 0
    if os.environ.get("CI") and skipped and exitstatus == 0:
        reporter.write_line(f"CI: {skipped} test(s) skipped; every test must run in CI", red=True)
        session.exitstatus = 1
