"""The v2 sink against a local server answering as InfluxDB 2.7's /api/v2/write does
(tests/support/influx2.py), for what a real server cannot be made to answer at
will: a 429 with Retry-After, a 503, a token refused once, a hang. How the real
InfluxDB 1.8.10 and 2.7.12 answer everything else (bad points, partial writes,
413, gzip, a missing bucket, org or token) is tested against them, in
tests/integration/test_archiver_influx_v2_real.py.

Every request is checked: method, path, query, headers and the gzip body.
"""

from __future__ import annotations

import asyncio
import gzip
import socket
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from archiver.batch import Record, Reject
from archiver.delivery import BatchReport, Delivery
from archiver.influx_v2 import InfluxV2Sink
from archiver.lineprotocol import encode_point
from archiver.sink import Unavailable
from archiver.startup import prepare
from enginewatch.core.points import Origin, Point, encode_archive
from enginewatch.core.retry import Backoff
from enginewatch.core.settings import InfluxConfig
from tests.support.influx2 import Answer, FakeInfluxV2, Request

TOKEN = "s3cret-token"


@pytest.fixture
def server() -> Iterator[FakeInfluxV2]:
    with FakeInfluxV2(token=TOKEN, org="acme", bucket="metrics") as fake:
        yield fake


def settings_for(url: str, **overrides: str) -> InfluxConfig:
    values: dict[str, object] = {
        "url": url,
        "api": "v2",
        "org": "acme",
        "bucket": "metrics",
        "token": SecretStr(TOKEN),
        "timeout": 5.0,
    }
    values.update(overrides)
    return InfluxConfig.model_validate(values)


def points(n: int) -> list[Point]:
    return [
        Point(
            "records",
            {"engine": f"e-{i % 2}", "model": "fraud model, v=2"},
            {"count": float(i), "note": "ok"},
            1_700_000_000_000_000_000 + i,
        )
        for i in range(n)
    ]


class Run:
    """A Delivery over the v2 sink; sleeps are recorded, not slept."""

    def __init__(self, settings: InfluxConfig) -> None:
        self.sink = InfluxV2Sink(settings)
        self.sleeps: list[float] = []
        self.dead_letters: list[Reject] = []

    async def _sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    async def _dead_letter(self, reject: Reject) -> None:
        self.dead_letters.append(reject)

    def deliver(self, batch: list[Point], max_points: int = 5000) -> BatchReport:
        async def go() -> BatchReport:
            delivery = Delivery(
                self.sink, self._dead_letter, max_points, Backoff(0.5, 30.0), self._sleep
            )
            try:
                return await delivery.deliver(
                    [
                        Record(b"e", encode_archive([p]), Origin("archive", 0, i))
                        for i, p in enumerate(batch)
                    ]
                )
            finally:
                await self.sink.close()

        return asyncio.run(go())


def assert_write_request(request: Request, compressed: bool = False) -> list[str]:
    """The request is what InfluxDB 2 documents for a write; returns its lines."""
    assert request.method == "POST"
    assert request.path == "/api/v2/write"
    assert request.query == {"org": ["acme"], "bucket": ["metrics"], "precision": ["ns"]}
    assert request.headers["authorization"] == f"Token {TOKEN}"
    # influxdb-client's WriteService always sends text/plain (line protocol is UTF-8).
    assert request.headers["content-type"].startswith("text/plain")
    assert request.body is not None
    if compressed:
        assert request.headers["content-encoding"] == "gzip"
        assert request.raw_body[:2] == b"\x1f\x8b"
        assert gzip.decompress(request.raw_body) == request.body
    else:
        assert request.headers["content-encoding"] == "identity"
        assert request.raw_body == request.body
    assert request.body == b"" or request.body.endswith(b"\n")
    return request.lines


@pytest.mark.parametrize("compressed", [False, True])
def test_a_batch_is_one_post_and_answered_204(server: FakeInfluxV2, compressed: bool) -> None:
    batch = points(10)
    report = Run(settings_for(server.url, gzip=str(compressed))).deliver(batch)
    (request,) = server.writes
    assert assert_write_request(request, compressed) == [encode_point(p) for p in batch]
    assert server.written == [encode_point(p) for p in batch]
    assert report.points == 10
    assert report.retries == 0


def test_start_up_detects_v2_from_ping_and_checks_with_an_empty_write(
    server: FakeInfluxV2,
) -> None:
    api = asyncio.run(prepare(settings_for(server.url, api="auto")))
    assert api == "v2"
    ping, probe = server.requests
    assert (ping.method, ping.path) == ("GET", "/ping")
    assert assert_write_request(probe) == []
    assert server.written == []


def test_429_waits_as_long_as_retry_after_says(server: FakeInfluxV2) -> None:
    server.answer_next(
        Answer(429, {"code": "too many requests", "message": "slow down"}, {"Retry-After": "3"})
    )
    batch = points(5)
    run = Run(settings_for(server.url))
    report = run.deliver(batch)
    first, second = server.writes
    assert assert_write_request(first) == assert_write_request(second)
    assert run.sleeps == [3.0]
    assert server.written == [encode_point(p) for p in batch]
    assert report.retries == 1


def test_503_is_retried_with_retry_after_then_backoff(server: FakeInfluxV2) -> None:
    server.answer_next(
        Answer(503, {"code": "unavailable", "message": "busy"}, {"Retry-After": "2"}),
        Answer(503, {"code": "unavailable", "message": "busy"}),
    )
    batch = points(5)
    run = Run(settings_for(server.url))
    run.deliver(batch)
    assert len(server.writes) == 3
    for request in server.writes:
        assert_write_request(request)
    assert run.sleeps[0] == 2.0
    assert 0.5 <= run.sleeps[1] <= 1.0
    assert server.written == [encode_point(p) for p in batch]


def test_a_token_refused_while_running_is_waited_out(server: FakeInfluxV2) -> None:
    server.answer_next(Answer(401, {"code": "unauthorized", "message": "unauthorized access"}))
    run = Run(settings_for(server.url))
    run.deliver(points(2))
    assert len(server.writes) == 2
    assert len(run.sleeps) == 1
    assert len(server.written) == 2
    assert run.dead_letters == []


def test_a_hung_server_is_unavailable_and_waited_out(server: FakeInfluxV2) -> None:
    # Answers after the sink's timeout: the request is sent again, as after an outage.
    server.answer_next(Answer(204, delay=2.0))
    batch = points(3)
    run = Run(settings_for(server.url, timeout="0.5"))
    report = run.deliver(batch)
    hung, again = server.writes
    assert assert_write_request(hung) == assert_write_request(again)
    assert (report.retries, len(run.sleeps), report.points) == (1, 1, 3)
    # The scripted answer stood in for the first write: only the retry's lines are kept.
    assert server.written == [encode_point(p) for p in batch]


def test_a_hung_write_says_it_timed_out(server: FakeInfluxV2) -> None:
    server.answer_next(Answer(204, delay=2.0))
    sink = InfluxV2Sink(settings_for(server.url, timeout="0.5"))

    async def write() -> None:
        try:
            await sink.write(b"m f=1.0 1\n")
        finally:
            await sink.close()

    with pytest.raises(Unavailable, match=f"cannot reach {server.url}: TimeoutError"):
        asyncio.run(write())


def test_no_server_at_all_is_unavailable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    sink = InfluxV2Sink(settings_for(f"http://127.0.0.1:{port}"))

    async def write() -> None:
        try:
            await sink.write(b"m f=1.0 1\n")
        finally:
            await sink.close()

    with pytest.raises(Unavailable, match="cannot reach"):
        asyncio.run(write())
