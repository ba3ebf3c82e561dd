"""The delivery loop over a sink that answers as told: retries, splits, bisection."""

from __future__ import annotations

import asyncio
import logging
import math
from collections import deque
from collections.abc import Callable, Sequence
from typing import cast

import orjson
import pytest

from archiver.batch import Record, Reject
from archiver.delivery import BatchReport, Delivery
from archiver.lineprotocol import encode_point
from archiver.sink import Rejected, SinkError, TooLarge, Unavailable
from archiver.transcode import Transcoder
from enginewatch.core.points import Origin, Point, encode_archive
from enginewatch.core.retry import Backoff

Refusal = Callable[[list[str]], SinkError | None]


class ScriptedSink:
    """Raises the scripted failures first, then refuses bodies as `refuse` says."""

    description = "the test sink"

    def __init__(self, refuse: Refusal = lambda lines: None, failures: Sequence[SinkError] = ()):
        self.refuse = refuse
        self.failures = deque(failures)
        self.bodies: list[bytes] = []
        self.written: list[str] = []

    async def check(self) -> None:
        pass

    async def write(self, body: bytes) -> None:
        self.bodies.append(body)
        if self.failures:
            raise self.failures.popleft()
        lines = body.decode().splitlines()
        refusal = self.refuse(lines)
        if refusal is not None:
            raise refusal
        self.written.extend(lines)

    async def close(self) -> None:
        pass


class Harness:
    def __init__(self, sink: ScriptedSink, max_points: int = 5000, dead_letter_failures: int = 0):
        self.sink = sink
        self.dead_letters: list[Reject] = []
        self.sleeps: list[float] = []
        self._dead_letter_failures = dead_letter_failures
        self.delivery = Delivery(
            sink,
            self._dead_letter,
            max_points,
            backoff=Backoff(initial=0.5, cap=30.0),
            sleep=self._sleep,
        )

    async def _dead_letter(self, reject: Reject) -> None:
        if self._dead_letter_failures:
            self._dead_letter_failures -= 1
            raise ConnectionError("broker gone")
        self.dead_letters.append(reject)

    async def _sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    def deliver(self, records: list[Record]) -> BatchReport:
        return asyncio.run(self.delivery.deliver(records))


def make_point(i: int, field: str = "value") -> Point:
    return Point("sensor", {"engine": f"e{i % 3}", "model": "m 1"}, {field: float(i)}, 1000 + i)


def records(points_per_message: list[list[Point]]) -> list[Record]:
    return [
        Record(b"key", encode_archive(points), Origin("archive", 0, offset))
        for offset, points in enumerate(points_per_message)
    ]


def lines_of(points: list[Point]) -> list[str]:
    return [encode_point(p) for p in points]


def test_writes_every_point_in_requests_of_at_most_max_points() -> None:
    points = [make_point(i) for i in range(14)]
    harness = Harness(ScriptedSink(), max_points=5)
    report = harness.deliver(records([points[i : i + 2] for i in range(0, 14, 2)]))
    assert harness.sink.written == lines_of(points)
    assert [len(body.splitlines()) for body in harness.sink.bodies] == [5, 5, 4]
    assert all(body.endswith(b"\n") for body in harness.sink.bodies)
    assert (report.messages, report.points, report.requests, report.retries) == (7, 14, 3, 0)
    assert report.bytes == sum(len(body) for body in harness.sink.bodies)
    assert harness.dead_letters == []


class SlowSink(ScriptedSink):
    """Takes a few turns of the event loop per write, noting what happened meanwhile."""

    def __init__(self, delivery_of: Callable[[], Delivery]) -> None:
        super().__init__()
        self.delivery_of = delivery_of
        self.in_flight = 0
        self.most_in_flight = 0
        self.prepared_during_write: list[int] = []

    async def write(self, body: bytes) -> None:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        before = self.transcoded()
        for _ in range(5):
            await asyncio.sleep(0)
        self.prepared_during_write.append(self.transcoded() - before)
        await super().write(body)
        self.in_flight -= 1

    def transcoded(self) -> int:
        return cast(CountingTranscoder, self.delivery_of().transcoder).messages


class CountingTranscoder(Transcoder):
    def __init__(self) -> None:
        super().__init__()
        self.messages = 0

    def lines(self, raw: bytes) -> list[str] | None:
        self.messages += 1
        return super().lines(raw)


def test_the_next_request_is_prepared_while_one_is_written_one_at_a_time_in_order() -> None:
    points = [make_point(i) for i in range(40)]
    harness = Harness(ScriptedSink(), max_points=10)
    sink = SlowSink(lambda: harness.delivery)
    harness.delivery.sink = sink
    harness.delivery.transcoder = CountingTranscoder()
    report = harness.deliver(records([[p] for p in points]))
    assert sink.written == lines_of(points)
    assert report.requests == 4
    assert sink.most_in_flight == 1
    # Every write but the last overlapped with decoding the messages after it.
    assert all(count > 0 for count in sink.prepared_during_write[:-1])


def test_a_message_larger_than_several_requests_is_split_across_them() -> None:
    points = [make_point(i) for i in range(26)]
    harness = Harness(ScriptedSink(), max_points=5)
    report = harness.deliver(records([points[:12], points[12:24], points[24:]]))
    assert harness.sink.written == lines_of(points)
    assert [len(body.splitlines()) for body in harness.sink.bodies] == [5, 5, 5, 5, 5, 1]
    assert report.points == 26


def test_waits_out_unavailability_with_backoff_and_retry_after(
    caplog: pytest.LogCaptureFixture,
) -> None:
    failures = [Unavailable("connection refused")] * 3 + [Unavailable("429 slow down", 7.0)]
    harness = Harness(ScriptedSink(failures=failures))
    points = [make_point(i) for i in range(3)]
    with caplog.at_level(logging.INFO, logger="archiver.delivery"):
        report = harness.deliver(records([points]))
    assert harness.sink.written == lines_of(points)
    assert len(set(harness.sink.bodies)) == 1  # the same body, sent again
    assert report.retries == 4
    assert report.requests == 5
    first, second, third, retry_after = harness.sleeps
    assert 0.25 <= first <= 0.5
    assert 0.5 <= second <= 1.0
    assert 1.0 <= third <= 2.0
    assert retry_after == 7.0
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    # One line per distinct reason, not one per retry.
    assert len(warnings) == 2
    assert "waiting for the test sink: connection refused" in warnings[0]
    assert "429 slow down" in warnings[1]
    infos = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert any("takes writes again after 4 retries" in line for line in infos)


def test_splits_requests_the_server_finds_too_large() -> None:
    def refuse(lines: list[str]) -> SinkError | None:
        return TooLarge("points batch is too large") if len(lines) > 3 else None

    points = [make_point(i) for i in range(10)]
    harness = Harness(ScriptedSink(refuse))
    report = harness.deliver(records([points]))
    assert sorted(harness.sink.written) == sorted(lines_of(points))
    assert harness.dead_letters == []
    assert report.points == 10


def test_a_point_too_large_on_its_own_is_dead_lettered() -> None:
    def refuse(lines: list[str]) -> SinkError | None:
        return TooLarge("too large") if any("huge" in line for line in lines) else None

    points = [make_point(0), make_point(1, field="huge"), make_point(2)]
    harness = Harness(ScriptedSink(refuse))
    harness.deliver(records([points]))
    assert sorted(harness.sink.written) == sorted(lines_of([points[0], points[2]]))
    assert [r.value for r in harness.dead_letters] == [encode_point(points[1]).encode()]
    assert harness.dead_letters[0].error == "too large"


def test_bisection_isolates_the_rejected_points_and_writes_the_rest() -> None:
    def refuse(lines: list[str]) -> SinkError | None:
        poison = [line for line in lines if "poison" in line]
        return Rejected(f"field type conflict: {poison[0]}") if poison else None

    messages = [[make_point(2 * i), make_point(2 * i + 1)] for i in range(32)]
    messages[2][1] = make_point(5, field="poison")
    messages[20][0] = make_point(40, field="poison")
    harness = Harness(ScriptedSink(refuse))
    report = harness.deliver(records(messages))

    good = [p for pair in messages for p in pair if "poison" not in p.fields]
    assert sorted(harness.sink.written) == sorted(lines_of(good))
    assert [(r.origin.offset, r.key) for r in harness.dead_letters] == [(2, b"key"), (20, b"key")]
    for reject in harness.dead_letters:
        line = reject.value.decode() if reject.value else ""
        assert "poison" in line
        assert reject.error == f"field type conflict: {line}"
    assert report.points == 62
    assert report.dead_letters == 2
    # Bisection: a few requests per bad point, not one per point.
    assert report.requests <= 1 + 2 * 2 * math.ceil(math.log2(64))


def test_a_request_dropped_entirely_is_dead_lettered_without_bisection() -> None:
    def refuse(lines: list[str]) -> SinkError | None:
        return Rejected(f"partial write: points beyond retention policy dropped={len(lines)}")

    points = [make_point(i) for i in range(64)]
    harness = Harness(ScriptedSink(refuse))
    report = harness.deliver(records([points]))
    assert report.requests == 1
    assert [r.value for r in harness.dead_letters] == [line.encode() for line in lines_of(points)]
    assert {r.error for r in harness.dead_letters} == {
        "partial write: points beyond retention policy dropped=64"
    }


def test_messages_that_are_not_archive_messages_are_dead_lettered_whole() -> None:
    good = make_point(1)
    batch = [
        Record(None, b"not json", Origin("archive", 3, 7)),
        Record(b"k", encode_archive([good]), Origin("archive", 3, 8)),
        Record(b"k", b'{"version": 2, "points": []}', Origin("archive", 3, 9)),
        Record(b"k", None, Origin("archive", 3, 10)),
    ]
    harness = Harness(ScriptedSink())
    report = harness.deliver(batch)
    assert harness.sink.written == lines_of([good])
    rejects = {r.origin.offset: r for r in harness.dead_letters}
    assert sorted(rejects) == [7, 9, 10]
    assert rejects[7].value == b"not json"
    assert "not JSON" in rejects[7].error
    assert "unsupported archive version 2" in rejects[9].error
    assert rejects[10].value is None
    assert report.rejected == 3
    assert report.messages == 4


def test_a_point_line_protocol_cannot_carry_is_dead_lettered_as_json() -> None:
    bad = Point("m", {"model": "ends in \\"}, {"f": 1.0}, 5)
    harness = Harness(ScriptedSink())
    harness.deliver(records([[make_point(1), bad]]))
    assert harness.sink.written == lines_of([make_point(1)])
    (reject,) = harness.dead_letters
    assert "ends with a backslash" in reject.error
    assert reject.value is not None
    assert orjson.loads(reject.value) == {
        "measurement": "m",
        "tags": {"model": "ends in \\"},
        "fields": {"f": 1.0},
        "time": 5,
    }


def test_dead_letters_are_retried_until_the_broker_takes_them() -> None:
    harness = Harness(ScriptedSink(), dead_letter_failures=2)
    harness.deliver([Record(None, b"[]", Origin("archive", 0, 1))])
    assert len(harness.dead_letters) == 1
    assert len(harness.sleeps) == 2


def test_one_key_value_log_line_per_batch(caplog: pytest.LogCaptureFixture) -> None:
    harness = Harness(ScriptedSink())
    with caplog.at_level(logging.INFO, logger="archiver.delivery"):
        harness.deliver(records([[make_point(i)] for i in range(50)]))
    (line,) = [r.getMessage() for r in caplog.records]
    fields = dict(part.split("=", 1) for part in line.split()[1:])
    assert line.startswith("batch ")
    assert fields["messages"] == "50"
    assert fields["points"] == "50"
    assert fields["retries"] == "0"
    assert set(fields) >= {"bytes", "duration", "requests", "dead_letters"}


def test_a_partial_write_says_how_many_points_it_dropped_in_either_servers_words() -> None:
    assert Rejected("partial write: field type conflict: ... dropped=3").dropped == 3
    # InfluxDB 2.7, beyond the retention: where the points were to go follows N.
    message = (
        "failure writing points to database: partial write: dropped 2 points outside "
        "retention policy of duration 720h0m0s - oldest point m at 1970-01-01T00:00:00Z "
        "dropped=2 for database: 0a1b2c3d4e5f6a7b for retention policy: autogen"
    )
    assert Rejected(message).dropped == 2
    assert Rejected("unable to parse 'x': missing field value").dropped is None
