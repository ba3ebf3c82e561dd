"""At-least-once delivery: InfluxDB stopped mid-stream, the archiver SIGKILLed mid-batch.

Both stop a private influxd (same binary and configuration template as the
shared one, on other ports, its data under the test's directory), never the
shared server. While InfluxDB is down, the archiver holds its batch
unacknowledged: the committed offsets must not pass what InfluxDB took.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from enginewatch.core.points import Point
from enginewatch.harness import kafka
from enginewatch.harness.processes import Process as Worker
from tests.support import archive
from tests.support.influxd import PrivateInfluxd
from tests.support.services import base_env
from tests.support.waiting import wait_until

DATABASE = "enginewatch_resilience"
FIRST, SECOND = 200, 300


class Scenario:
    """A topic, an archiver environment aimed at the private influxd, and checks."""

    def __init__(
        self, influxd: PrivateInfluxd, unique: Callable[[str], str], tmp_path: Path
    ) -> None:
        self.influxd = influxd
        self.topic = unique("archive")
        app_id = unique("app")
        self.group = f"{app_id}-archiver"
        kafka.create_topic(self.topic, partitions=2)
        self.env = base_env(
            app_id,
            archive_topic=self.topic,
            dead_letter_topic=unique("dead"),
            influx_url=influxd.url,
            influx_bucket=DATABASE,
            batch_points="50",
            batch_seconds="0.2",
        )
        self.env.update(
            APP_DATADIR=str(tmp_path / "faust"),
            # A SIGKILLed member leaves the group after this, not after Faust's 60 s.
            BROKER_SESSION_TIMEOUT="6",
            BROKER_HEARTBEAT_INTERVAL="1",
            # Faust commits acknowledged offsets this often (default 2.8 s), so a
            # wrongly acknowledged batch would show up in the committed offsets soon.
            BROKER_COMMIT_INTERVAL="0.2",
        )
        self.first = archive.sample_messages(FIRST)
        self.second = archive.sample_messages(SECOND, start=FIRST)

    def points(self, *message_lists: list[list[Point]]) -> set[archive.PointKey]:
        return archive.keys_of(
            p for messages in message_lists for points in messages for p in points
        )

    def written(self) -> int:
        return archive.count_in(self.influxd.url, DATABASE)

    def assert_all_written_once(self) -> None:
        expected = self.points(self.first, self.second)
        assert wait_until(lambda: self.written() >= len(expected))
        found = archive.points_in(self.influxd.url, DATABASE)
        assert len(found) == len(expected)
        assert set(found) == expected
        # The committed offsets catch up once everything is written.
        assert wait_until(lambda: kafka.committed(self.group, self.topic) == FIRST + SECOND)

    def run_until_influxdb_is_gone(self, start: Callable[[], Worker]) -> Worker:
        """First half written; influxd stopped; second half consumed and held."""
        archive.produce_messages(self.topic, self.first)
        worker = start()
        assert wait_until(lambda: self.written() >= len(self.points(self.first)))
        self.influxd.stop()
        archive.produce_messages(self.topic, self.second, first_offset=FIRST)
        assert wait_until(lambda: "waiting for InfluxDB" in worker.log())
        self.assert_nothing_more_committed()
        return worker

    def assert_nothing_more_committed(self) -> None:
        """Nothing past what InfluxDB acknowledged is committed, given many commit intervals."""
        assert not wait_until(lambda: kafka.committed(self.group, self.topic) > FIRST, timeout=3.0)


def test_influxdb_stopped_mid_stream_and_restarted(
    workers: Callable[..., Worker],
    unique: Callable[[str], str],
    influxd: PrivateInfluxd,
    tmp_path: Path,
) -> None:
    scenario = Scenario(influxd, unique, tmp_path)
    worker = scenario.run_until_influxdb_is_gone(
        lambda: workers(["archiver", "-l", "info"], scenario.env, name="archiver")
    )
    log_lines = worker.log().count("waiting for InfluxDB")
    influxd.start()
    scenario.assert_all_written_once()
    log = worker.log()
    assert "takes writes again after" in log
    # One line said what it waits for; retries did not log one each.
    assert log.count("waiting for InfluxDB") == log_lines == 1
    assert worker.running()


def test_archiver_killed_mid_batch_and_restarted(
    workers: Callable[..., Worker],
    unique: Callable[[str], str],
    influxd: PrivateInfluxd,
    tmp_path: Path,
) -> None:
    scenario = Scenario(influxd, unique, tmp_path)
    first = scenario.run_until_influxdb_is_gone(
        lambda: workers(["archiver", "-l", "info"], scenario.env, name="archiver")
    )
    first.kill()  # SIGKILL while its batch waits for InfluxDB, unacknowledged
    scenario.assert_nothing_more_committed()
    influxd.start()
    workers(["archiver", "-l", "info"], scenario.env, name="archiver-again")
    scenario.assert_all_written_once()
