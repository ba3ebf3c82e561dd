"""InfluxDB with authentication and HTTPS, for real: a private InfluxDB 1.8.10
(services/local.sh influxdb18) with `auth-enabled = true`, serving HTTPS only
with a certificate made at test time.

Its users stand for least privilege: `writer` may only write the archive's
database, `reader` only read it; on 1.8's v2 API a token is `username:password`,
so `writer`'s is a token that writes one bucket. The archiver writes with
`writer` through either write API and prints neither password; `enginewatch
snapshot` reads with `reader`. A user refused the write (403), a wrong password
(401), a token for another bucket and an untrusted certificate each stop the
archiver at start with one line, never a retry loop.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from enginewatch.core.influxql import InfluxQLClient
from enginewatch.harness import kafka
from enginewatch.harness.processes import Process, run_enginewatch
from tests.support import archive
from tests.support.influxd import PrivateInfluxd, influxd18_binary
from tests.support.services import ROOT, base_env
from tests.support.tls import ServerCertificates, make_server_certificates

DATABASE, OTHER = "secured", "elsewhere"
PASSWORDS = {
    "admin": "admin-Secret-5e1f",
    "writer": "writer-Secret-0b7c",
    "reader": "reader-Secret-3d9a",
}
MESSAGES = 40
REFUSED_WITHIN = 30.0  # one attempt at start, never a retry loop


def token(user: str) -> str:
    return f"{user}:{PASSWORDS[user]}"


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> ServerCertificates:
    return make_server_certificates(tmp_path_factory.mktemp("tls"), "unused")


@pytest.fixture(scope="module")
def secured(
    tmp_path_factory: pytest.TempPathFactory, certificates: ServerCertificates
) -> Iterator[PrivateInfluxd]:
    server = PrivateInfluxd(
        tmp_path_factory.mktemp("influxd"), binary=influxd18_binary(), auth=True, tls=certificates
    )
    server.start()
    # With no user yet, InfluxDB takes the first admin unauthenticated.
    InfluxQLClient(server.url, "", cafile=certificates.ca).execute(
        f"CREATE USER admin WITH PASSWORD '{PASSWORDS['admin']}' WITH ALL PRIVILEGES"
    )
    admin = admin_client(server, certificates, "")
    for statement in (
        f'CREATE DATABASE "{DATABASE}"',
        f'CREATE DATABASE "{OTHER}"',
        f"CREATE USER writer WITH PASSWORD '{PASSWORDS['writer']}'",
        f'GRANT WRITE ON "{DATABASE}" TO writer',
        f"CREATE USER reader WITH PASSWORD '{PASSWORDS['reader']}'",
        f'GRANT READ ON "{DATABASE}" TO reader',
    ):
        admin.execute(statement)
    yield server
    server.stop()


def admin_client(
    server: PrivateInfluxd, certificates: ServerCertificates, database: str
) -> InfluxQLClient:
    return InfluxQLClient(server.url, database, token("admin"), cafile=certificates.ca, epoch="ns")


def archiver_env(
    server: PrivateInfluxd, app_id: str, topic: str, user_token: str, **settings: str
) -> dict[str, str]:
    secured = {
        "archive_topic": topic,
        "dead_letter_topic": f"{topic}-dead",
        "influx_url": server.url,
        "influx_bucket": DATABASE,
        "influx_token": user_token,
    }
    return base_env(app_id, **(secured | settings))


def count(client: InfluxQLClient) -> int:
    return sum(len(series.values) for series in client.query("SELECT * FROM /.*/"))


@pytest.mark.parametrize("api", ["v1", "v2"])
def test_a_write_only_user_archives_over_https_and_a_read_only_one_reads(
    api: str,
    secured: PrivateInfluxd,
    certificates: ServerCertificates,
    workers: Callable[..., Process],
    unique: Callable[[str], str],
    tmp_path: Path,
) -> None:
    topic = unique("archive")
    kafka.create_topic(topic)
    env = archiver_env(
        secured,
        unique("app"),
        topic,
        token("writer"),
        influx_api=api,
        influx_ssl_cafile=str(certificates.ca),
    )
    admin = admin_client(secured, certificates, DATABASE)
    before = count(admin)
    # Points of their own (times apart) for each API, in the one database.
    messages = archive.sample_messages(MESSAGES, start=0 if api == "v1" else MESSAGES)
    archiver = workers(["archiver", "-l", "info"], env, name=f"archiver-{api}")
    archive.produce_messages(topic, messages)
    written = before + sum(len(m) for m in messages)
    deadline = time.monotonic() + 90
    while count(admin) < written and time.monotonic() < deadline:
        time.sleep(0.5)
    assert count(admin) == written, archiver.tail()

    reader = {
        **env,
        "ENGINEWATCH_INFLUX_TOKEN": token("reader"),
        "ENGINEWATCH_INFLUX_BUCKET": DATABASE,
    }
    dashboard = ROOT / "grafana" / "dashboards" / "fleet-overview.json"
    drawn = run_enginewatch(
        "snapshot", "--dashboard", str(dashboard), "--out", str(tmp_path / "out"),
        "--from", "2026-01-01T00:00:00Z", "--to", "2026-01-02T00:00:00Z",
        env=reader, cwd=ROOT, timeout=240,
    )  # fmt: skip
    assert drawn.returncode == 0, drawn.stderr
    assert "WARNING" not in drawn.stderr, drawn.stderr
    archiver.stop()
    for printed in (archiver.log(), drawn.stdout, drawn.stderr):
        for password in PASSWORDS.values():
            assert password not in printed


@pytest.mark.parametrize("api", ["v1", "v2"])
@pytest.mark.parametrize(
    ("user_token", "bucket", "said"),
    [
        (token("reader"), DATABASE, "403"),  # may read, not write
        (token("writer"), OTHER, "403"),  # may write, but another database
        ("writer:not-the-password", DATABASE, "401"),
    ],
    ids=["read-only", "another-bucket", "wrong-password"],
)
def test_a_refused_write_stops_the_archiver_at_start_with_one_line(
    api: str,
    user_token: str,
    bucket: str,
    said: str,
    secured: PrivateInfluxd,
    certificates: ServerCertificates,
    workers: Callable[..., Process],
    unique: Callable[[str], str],
) -> None:
    topic = unique("archive")
    env = archiver_env(
        secured,
        unique("app"),
        topic,
        user_token,
        influx_api=api,
        influx_bucket=bucket,
        influx_ssl_cafile=str(certificates.ca),
    )
    started = time.monotonic()
    archiver = workers(["archiver", "-l", "info"], env, name="archiver")
    assert archiver.wait(REFUSED_WITHIN) == 2, archiver.tail()
    assert time.monotonic() - started < REFUSED_WITHIN
    refusals = [
        line for line in archiver.log().splitlines() if line.startswith("enginewatch archiver: ")
    ]
    assert len(refusals) == 1, archiver.log()
    assert said in refusals[0]
    assert "waiting for InfluxDB" not in archiver.log()
    for password in PASSWORDS.values():
        assert password not in archiver.log()


@pytest.mark.parametrize("api", ["v1", "v2"])
def test_an_untrusted_certificate_stops_the_archiver_at_start_with_one_line(
    api: str,
    secured: PrivateInfluxd,
    workers: Callable[..., Process],
    unique: Callable[[str], str],
) -> None:
    # No CA file: the system's CAs, which never signed the test's certificate.
    env = archiver_env(secured, unique("app"), unique("archive"), token("writer"), influx_api=api)
    archiver = workers(["archiver", "-l", "info"], env, name="archiver")
    assert archiver.wait(REFUSED_WITHIN) == 2, archiver.tail()
    (refusal,) = [
        line for line in archiver.log().splitlines() if line.startswith("enginewatch archiver: ")
    ]
    assert "TLS certificate" in refusal, refusal
    assert "not trusted" in refusal, refusal
    assert "ENGINEWATCH_INFLUX_SSL_CAFILE" in refusal
    assert "waiting for InfluxDB" not in archiver.log()
