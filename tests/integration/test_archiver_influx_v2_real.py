"""The v2 sink (`POST /api/v2/write`) against real servers: a private InfluxDB
1.8.10 (services/local.sh influxdb18; authentication on, [http] max-body-size
set) and a private InfluxDB 2.7.12 (services/local.sh influxdb27; set up as
compose/docker-compose.yml sets up the deployment's).

Each test writes to a database or bucket of its own, with a token that may
write only there (on 1.8 a user `name:password` granted WRITE on the database;
on 2.7 an authorization with write permission on the bucket), and reads back
what the server then holds. Where the two answer differently, the test says
how each does; `Target.answer` is the server's own answer (status and body),
the sink's exception what the archiver makes of it.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest
import requests
from pydantic import SecretStr

from archiver import influx_v2
from archiver.batch import Record, Reject
from archiver.delivery import BatchReport, Delivery
from archiver.influx_v2 import InfluxV2Sink
from archiver.lineprotocol import encode_point
from archiver.sink import (
    ConfigurationError,
    Refused,
    Rejected,
    TooLarge,
    Unavailable,
    content,
)
from archiver.startup import prepare
from enginewatch.core.influxql import InfluxQLClient
from enginewatch.core.points import Origin, Point, encode_archive
from enginewatch.core.retry import Backoff
from enginewatch.core.settings import InfluxConfig
from tests.support.influxd import PrivateInfluxd, influxd18_binary
from tests.support.influxd2 import PrivateInfluxd2, influxd27_binary

V18, V27 = "1.8.10", "2.7.12"
# A fixture may build its server first (minutes, once per machine): the
# timeout bounds each test, not that.
pytestmark = pytest.mark.timeout(300, func_only=True)

ADMIN = "admin:admin-Secret-91c4"
# The 1.8 server's [http] max-body-size: a few dozen points exceed it, the
# other tests' batches stay well under it.
MAX_BODY = 2048
# Within the 30-day retention the deployment gives its bucket, and far from its edge.
NOW = (time.time_ns() // 10**9 - 3600) * 10**9
LONG_AGO = NOW - 60 * 24 * 3600 * 10**9
_serial = itertools.count()


@dataclass(frozen=True)
class Target:
    """A fresh database (1.8) or bucket (2.7) on one server, a token that may write
    only there, and one that may only read it."""

    server: str  # V18 or V27
    url: str
    org: str
    bucket: str
    token: str
    read_only: str
    admin: str  # reads what the server holds

    def settings(self, **overrides: object) -> InfluxConfig:
        values: dict[str, object] = {
            "url": self.url,
            "api": "v2",
            "org": self.org,
            "bucket": self.bucket,
            "token": SecretStr(self.token),
            "timeout": 10.0,
        }
        values.update(overrides)
        return InfluxConfig.model_validate(values)

    def held(self, retention_policy: str | None = None) -> list[tuple[Any, ...]]:
        """Every point of `records` as (time, engine, model, count, note), by time;
        read with InfluxQL (on 2.7 through the bucket's DBRP mapping)."""
        database = self.bucket.split("/", 1)[0]
        reader = InfluxQLClient(self.url, database, self.admin, retention_policy, epoch="ns")
        try:
            series = reader.query('SELECT "engine", "model", "count", "note" FROM "records"')
        finally:
            reader.close()
        return sorted(tuple(row) for s in series for row in s.values)

    def answer(self, body: bytes, encoding: str = "identity") -> tuple[int, str]:
        """The server's own answer to a write of `body`, sent as the sink sends it:
        the status and the message (1.8's `error`, 2.7's `message`)."""
        response = requests.post(
            f"{self.url}/api/v2/write",
            params={"org": self.org, "bucket": self.bucket, "precision": "ns"},
            data=body,
            headers={
                "Authorization": f"Token {self.token}",
                "Content-Type": "text/plain",
                "Content-Encoding": encoding,
            },
            timeout=10,
        )
        said = response.json() if response.content else {}
        return response.status_code, said.get("error") or said.get("message") or ""


@pytest.fixture(scope="module")
def influxd18(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateInfluxd]:
    server = PrivateInfluxd(
        tmp_path_factory.mktemp("influxd18"),
        binary=influxd18_binary(),
        auth=True,
        max_body_size=MAX_BODY,
    )
    server.start()
    user, _, password = ADMIN.partition(":")
    # With no user yet, InfluxDB takes the first admin unauthenticated.
    InfluxQLClient(server.url, "").execute(
        f"CREATE USER {user} WITH PASSWORD '{password}' WITH ALL PRIVILEGES"
    )
    yield server
    server.stop()


@pytest.fixture(scope="module")
def influxd27(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateInfluxd2]:
    server = PrivateInfluxd2(tmp_path_factory.mktemp("influxd27"), influxd27_binary())
    server.start()
    yield server
    server.stop()


def target_18(server: PrivateInfluxd) -> Target:
    """A database (autogen, and `month`: 30 days), a user granted WRITE on it
    alone, and one granted READ."""
    n = next(_serial)
    database = f"db{n}"
    writer, reader = (f"writer{n}", f"writer-Secret-{n}"), (f"reader{n}", f"reader-Secret-{n}")
    admin = InfluxQLClient(server.url, "", ADMIN)
    for statement in (
        f'CREATE DATABASE "{database}"',
        f'CREATE RETENTION POLICY "month" ON "{database}" DURATION 30d REPLICATION 1',
        f"CREATE USER {writer[0]} WITH PASSWORD '{writer[1]}'",
        f'GRANT WRITE ON "{database}" TO {writer[0]}',
        f"CREATE USER {reader[0]} WITH PASSWORD '{reader[1]}'",
        f'GRANT READ ON "{database}" TO {reader[0]}',
    ):
        admin.execute(statement)
    admin.close()
    return Target(V18, server.url, "-", database, ":".join(writer), ":".join(reader), ADMIN)


def target_27(server: PrivateInfluxd2) -> Target:
    """A bucket with the deployment's 30-day retention and its DBRP mapping, a
    token that may write it alone, and one that may only read it."""
    bucket = server.create_bucket(f"bucket{next(_serial)}")
    server.create_dbrp(bucket)
    writer, reader = server.authorize(bucket, "write"), server.authorize(bucket, "read")
    return Target(V27, server.url, server.org, bucket.name, writer, reader, server.token)


# `make test-influx27` runs the 2.7.12 cases (its first build takes minutes).
@pytest.fixture(params=[V18, pytest.param(V27, marks=pytest.mark.influx27)])
def target(request: pytest.FixtureRequest) -> Target:
    if request.param == V18:
        return target_18(request.getfixturevalue("influxd18"))
    return target_27(request.getfixturevalue("influxd27"))


def points(n: int, poison: frozenset[int] = frozenset(), at: int = NOW) -> list[Point]:
    """`n` points of `records` from `at` on; those in `poison` have a numeric `note`."""
    return [
        Point(
            "records",
            # A tag value that line protocol must escape (space, comma, equals).
            {"engine": f"e-{i % 2}", "model": "fraud model, v=2"},
            {"count": float(i), "note": 1.0 if i in poison else "ok"},
            at + i,
        )
        for i in range(n)
    ]


def rows(batch: list[Point]) -> list[tuple[Any, ...]]:
    """What the server holds of `batch` once it took it, as Target.held reads it."""
    return sorted(
        (p.time, p.tags["engine"], p.tags["model"], p.fields["count"], p.fields["note"])
        for p in batch
    )


def body(batch: list[Point]) -> bytes:
    return "".join(encode_point(p) + "\n" for p in batch).encode()


async def no_sleep(seconds: float) -> None:
    """Nothing here is an outage: a wait means an answer was taken for one."""
    raise AssertionError(f"would wait {seconds}s and try again")


def write(settings: InfluxConfig, data: bytes) -> None:
    async def go() -> None:
        sink = InfluxV2Sink(settings)
        try:
            await sink.write(data)
        finally:
            await sink.close()

    asyncio.run(go())


def failure_of(settings: InfluxConfig, data: bytes) -> Exception:
    """What the sink raises writing `data`; the test fails if the write goes through."""
    try:
        write(settings, data)
    except (Unavailable, TooLarge, Rejected) as exc:
        return exc
    raise AssertionError("the write went through")


def start_up(settings: InfluxConfig) -> str:
    return asyncio.run(prepare(settings, sleep=no_sleep))


def deliver(settings: InfluxConfig, batch: list[Point]) -> tuple[BatchReport, list[Reject]]:
    """The batch through the delivery loop, one record per point (offset = index)."""
    dead_letters: list[Reject] = []

    async def dead_letter(reject: Reject) -> None:
        dead_letters.append(reject)

    async def go() -> BatchReport:
        sink = InfluxV2Sink(settings)
        try:
            delivery = Delivery(sink, dead_letter, 5000, Backoff(0.5, 1.0), no_sleep)
            return await delivery.deliver(
                [
                    Record(b"e", encode_archive([p]), Origin("archive", 0, i))
                    for i, p in enumerate(batch)
                ]
            )
        finally:
            await sink.close()

    return asyncio.run(go()), dead_letters


SEED = points(1, at=NOW - 10**9)


def seed_note_as_string(target: Target) -> None:
    """`note` becomes a string field of `records`: a numeric one then conflicts."""
    write(target.settings(), body(SEED))


# --- writes that go through ------------------------------------------------------


@pytest.mark.parametrize("compressed", [False, True], ids=["identity", "gzip"])
def test_a_batch_is_one_request_and_the_server_holds_all_of_it(
    target: Target, compressed: bool
) -> None:
    batch = points(12)
    report, rejects = deliver(target.settings(gzip=compressed), batch)
    assert (report.points, report.requests, report.retries, rejects) == (12, 1, 0, [])
    assert target.held() == rows(batch)


@pytest.mark.parametrize("compressed", [False, True], ids=["identity", "gzip"])
def test_an_empty_write_is_answered_204_and_writes_nothing(
    target: Target, compressed: bool
) -> None:
    data, encoding = content(b"", compressed)
    assert target.answer(data, encoding) == (204, "")
    write(target.settings(gzip=compressed), b"")
    assert target.held() == []


def test_start_up_tells_the_api_from_ping_and_checks_without_writing(target: Target) -> None:
    version = requests.get(f"{target.url}/ping", timeout=10).headers["X-Influxdb-Version"]
    assert version == {V18: "1.8.10", V27: "v2.7.12"}[target.server]
    assert start_up(target.settings(api="auto")) == "v2"
    assert target.held() == []


# --- what an operator must fix: Refused, and start-up stops ----------------------


def test_a_wrong_token_is_401_and_stops_the_start_up(target: Target) -> None:
    wrong = {V18: target.token.split(":")[0] + ":wrong", V27: "no-such-token"}[target.server]
    said = {V18: "authorization failed", V27: "unauthorized access"}[target.server]
    assert replace(target, token=wrong).answer(b"") == (401, said)
    failure = failure_of(target.settings(token=SecretStr(wrong)), body(points(1)))
    assert isinstance(failure, Refused)
    assert str(failure) == (
        f"InfluxDB answered 401 at {target.url}: {said} (check ENGINEWATCH_INFLUX_TOKEN)"
    )
    with pytest.raises(ConfigurationError, match=re.escape(str(failure))):
        start_up(target.settings(token=SecretStr(wrong)))
    assert target.held() == []


def test_a_token_that_may_only_read_is_403_and_stops_the_start_up(target: Target) -> None:
    said = {
        V18: f'"{target.read_only.split(":")[0]}" user is not authorized to write to database '
        f'"{target.bucket}"',
        V27: "insufficient permissions for write",
    }[target.server]
    assert replace(target, token=target.read_only).answer(b"") == (403, said)
    with pytest.raises(ConfigurationError, match=f"403 .*{re.escape(said)}.*INFLUX_TOKEN"):
        start_up(target.settings(token=SecretStr(target.read_only)))
    assert target.held() == []


@pytest.mark.influx27
def test_a_token_for_another_bucket_is_403_on_2_7(influxd27: PrivateInfluxd2) -> None:
    mine, theirs = target_27(influxd27), target_27(influxd27)
    assert replace(mine, token=theirs.token).answer(body(points(1))) == (
        403,
        "insufficient permissions for write",
    )
    with pytest.raises(ConfigurationError, match=r"403 .*insufficient permissions for write"):
        start_up(mine.settings(token=SecretStr(theirs.token)))
    assert mine.held() == theirs.held() == []


def test_a_missing_bucket_is_404_and_stops_the_start_up(target: Target) -> None:
    said = {V18: 'database not found: "nowhere"', V27: 'bucket "nowhere" not found'}
    assert replace(target, bucket="nowhere").answer(b"") == (404, said[target.server])
    failure = failure_of(target.settings(bucket="nowhere"), body(points(1)))
    assert isinstance(failure, Refused)
    assert str(failure).endswith(
        f"{said[target.server]} (check ENGINEWATCH_INFLUX_BUCKET and ENGINEWATCH_INFLUX_ORG)"
    )
    with pytest.raises(ConfigurationError, match=re.escape(said[target.server])):
        start_up(target.settings(bucket="nowhere"))


def test_a_missing_org_stops_2_7_while_1_8_ignores_it(target: Target) -> None:
    if target.server == V18:
        # 1.8 has no organizations: whatever the name, the write goes through.
        assert start_up(target.settings(org="other-org")) == "v2"
        batch = points(2)
        write(target.settings(org="other-org"), body(batch))
        assert target.held() == rows(batch)
        return
    said = 'organization name "other-org" not found'
    assert replace(target, org="other-org").answer(b"") == (404, said)
    with pytest.raises(ConfigurationError, match=f"404 .*{said}"):
        start_up(target.settings(org="other-org"))
    # No org set: the sink sends "-", which 1.8 ignores and 2.7 has not.
    with pytest.raises(ConfigurationError, match=r'404 .*organization name "-" not found'):
        start_up(target.settings(org=""))


def test_a_missing_retention_policy_is_500_on_1_8_yet_stops_the_start_up(
    influxd18: PrivateInfluxd,
) -> None:
    fresh = target_18(influxd18)
    target = replace(fresh, bucket=f"{fresh.bucket}/nonesuch")
    # Not a 404: 1.8 answers as for a failure of its own, which alone would be waited out.
    assert target.answer(b"") == (500, "retention policy not found: nonesuch")
    failure = failure_of(target.settings(), body(points(1)))
    assert isinstance(failure, Refused)
    assert str(failure) == (
        f"InfluxDB answered 500 at {target.url}: retention policy not found: nonesuch "
        "(check ENGINEWATCH_INFLUX_BUCKET)"
    )
    with pytest.raises(ConfigurationError, match="retention policy not found: nonesuch"):
        start_up(target.settings())


@pytest.mark.influx27
def test_a_bucket_named_database_slash_policy_is_only_1_8s(influxd27: PrivateInfluxd2) -> None:
    target = target_27(influxd27)
    said = f'bucket "{target.bucket}/autogen" not found'
    assert replace(target, bucket=f"{target.bucket}/autogen").answer(b"") == (404, said)


# --- bad points: partial writes --------------------------------------------------


def test_a_malformed_line_is_400_where_1_8_writes_the_rest_and_2_7_none(target: Target) -> None:
    good = points(2)
    data = f"{encode_point(good[0])}\nrecords,engine=e-9 count= 1\n{encode_point(good[1])}\n"
    said = "unable to parse 'records,engine=e-9 count= 1': missing field value"
    expected = {V18: f"partial write: {said} dropped=0", V27: said}[target.server]
    failure = failure_of(target.settings(), data.encode())
    assert isinstance(failure, Rejected)
    assert (str(failure), failure.dropped) == (expected, {V18: 0, V27: None}[target.server])
    assert target.held() == {V18: rows(good), V27: []}[target.server]


def test_a_field_type_conflict_drops_those_points_only(target: Target) -> None:
    seed_note_as_string(target)
    batch = points(10, poison=frozenset({3, 7}))
    conflict = (
        'partial write: field type conflict: input field "note" on measurement "records" '
        "is type float, already exists as type string dropped=2"
    )
    said = {V18: conflict, V27: f"failure writing points to database: {conflict}"}
    assert target.answer(body(batch)) == ({V18: 400, V27: 422}[target.server], said[target.server])
    failure = failure_of(target.settings(), body(batch))
    assert isinstance(failure, Rejected)
    assert (str(failure), failure.dropped) == (said[target.server], 2)
    kept = [p for i, p in enumerate(batch) if i not in (3, 7)]
    assert target.held() == rows(SEED + kept)


def test_the_delivery_dead_letters_exactly_the_conflicting_points(target: Target) -> None:
    seed_note_as_string(target)
    batch = points(16, poison=frozenset({5, 11}))
    report, rejects = deliver(target.settings(), batch)
    assert sorted(r.origin.offset for r in rejects) == [5, 11]
    for reject in rejects:
        assert "field type conflict" in reject.error
        assert reject.error.endswith("dropped=1")
    assert report.points == 14
    assert target.held() == rows(SEED + [p for i, p in enumerate(batch) if i not in (5, 11)])


def retention_target(target: Target) -> tuple[InfluxConfig, str | None]:
    """Where 30 days are kept: 1.8's policy `month`; 2.7's bucket itself."""
    if target.server == V18:
        return target.settings(bucket=f"{target.bucket}/month"), "month"
    return target.settings(), None


def test_points_beyond_the_retention_are_a_partial_write_saying_how_many(
    target: Target,
) -> None:
    settings, policy = retention_target(target)
    old, recent = points(3, at=LONG_AGO), points(5)
    failure = failure_of(settings, body(old + recent))
    assert isinstance(failure, Rejected)
    assert failure.dropped == 3
    if target.server == V18:
        assert str(failure) == "partial write: points beyond retention policy dropped=3"
    else:
        # 2.7 says more, and not with `dropped=N` last.
        assert str(failure).startswith(
            "failure writing points to database: partial write: dropped 3 points outside "
            "retention policy of duration 720h0m0s - oldest point records,engine="
        )
        assert re.search(
            r" dropped=3 for database: \w+ for retention policy: autogen$", str(failure)
        )
    assert target.held(policy) == rows(recent)


def test_the_delivery_dead_letters_points_beyond_the_retention_at_once(target: Target) -> None:
    settings, policy = retention_target(target)
    old, recent = points(6, at=LONG_AGO), points(2)
    report, rejects = deliver(settings, old + recent)
    assert sorted(r.origin.offset for r in rejects) == list(range(6))
    assert all("dropped=" in r.error for r in rejects)
    # A part InfluxDB says it dropped whole is dead-lettered without splitting it
    # further: 5 requests, where isolating each old point would take 13.
    assert (report.points, report.requests) == (2, 5)
    assert target.held(policy) == rows(recent)


# --- body size and encoding ------------------------------------------------------


@pytest.mark.parametrize("compressed", [False, True], ids=["identity", "gzip"])
def test_a_body_over_1_8s_max_body_size_is_413_and_split_while_2_7_takes_any(
    target: Target, compressed: bool
) -> None:
    batch = points(48)
    assert len(body(batch)) > 2 * MAX_BODY
    settings = target.settings(gzip=compressed)
    report, rejects = deliver(settings, batch)
    assert rejects == []
    assert target.held() == rows(batch)
    # 1.8 compares the limit with Content-Length, the compressed size when gzip:
    # a gzip body under it goes through, whatever it inflates to.
    split = target.server == V18 and not compressed
    assert (report.requests > 1) is split
    if split:
        assert target.answer(body(batch)) == (413, "Request Entity Too Large")
        failure = failure_of(settings, body(batch))
        assert isinstance(failure, TooLarge)
        assert str(failure) == "Request Entity Too Large"


def test_a_body_marked_gzip_that_is_not_is_400_on_1_8_and_500_on_2_7(
    target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = body(points(3))
    said = {V18: "gzip: invalid header", V27: "An internal error has occurred - check server logs"}
    assert target.answer(data, "gzip") == ({V18: 400, V27: 500}[target.server], said[target.server])
    monkeypatch.setattr(influx_v2, "content", lambda raw, compressed: (raw, "gzip"))
    failure = failure_of(target.settings(gzip=True), data)
    if target.server == V18:
        # Taken for bad points: the delivery would dead-letter every one of them.
        assert isinstance(failure, Rejected)
        assert (str(failure), failure.dropped) == (said[V18], None)
    else:
        # Taken for an outage: the delivery would send it again until it goes through.
        assert type(failure) is Unavailable
        assert str(failure) == f"InfluxDB answered 500 at {target.url}: {said[V27]}"
    assert target.held() == []
