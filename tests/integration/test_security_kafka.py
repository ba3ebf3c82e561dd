"""Kafka over SASL_SSL, for real: a private broker with a SASL_SSL listener beside its
PLAINTEXT one (tests/support/kafkad.py), its certificate made at test time, its
SCRAM users made by Kafka's own storage tool.

The tools and workers reach it only through that listener: `enginewatch replay`
sends a recording, the agents and the archiver carry it to InfluxDB, `enginewatch
record` and `enginewatch resolve` read back, the alerts worker reads the archive.
Every line they logged is then scanned for the secrets they were given. A wrong
password and an untrusted certificate each stop a worker or tool at once with
one line.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from aiokafka.errors import KafkaError

from enginewatch.core.kafkasecurity import KafkaSecurity
from enginewatch.core.points import decode_archive
from enginewatch.harness import kafka
from enginewatch.harness.processes import Process, run_enginewatch
from tests.support import archive
from tests.support.kafkad import PrivateKafka, SaslSsl
from tests.support.services import INFLUX_URL, base_env
from tests.support.tls import ClientCertificate, make_ca, make_client_certificate
from tests.support.waiting import wait_until

RECORDING = Path(__file__).resolve().parents[1] / "recordings" / "fleet-3-engines.jsonl"
DEFAULT_RULES = Path(__file__).resolve().parents[2] / "alerts" / "default-rules.yaml"
USER = "enginewatch"
KAFKA_PASSWORD = "kafka-Secret-4c1d"
INFLUX_PASSWORD = "influx-Secret-93ab"
COMPOSER_PASSWORD = "composer-Secret-77e2"
# What a refused start may take: one connection attempt, never a retry loop.
REFUSED_WITHIN = 30.0


@pytest.fixture(scope="module")
def secure_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateKafka]:
    broker = PrivateKafka(
        tmp_path_factory.mktemp("kafka"), SaslSsl({USER: KAFKA_PASSWORD}), mutual_tls=True
    )
    broker.start()
    yield broker
    broker.stop()


def secure_env(broker: PrivateKafka, app_id: str, **settings: str) -> dict[str, str]:
    """The settings of a deployment that reaches Kafka only over SASL_SSL."""
    security = broker.sasl_security(USER)
    assert security.cafile is not None
    secure = {
        "broker": f"kafka://{broker.sasl_bootstrap}",
        "kafka_security_protocol": "SASL_SSL",
        "kafka_sasl_mechanism": "SCRAM-SHA-512",
        "kafka_sasl_username": USER,
        "kafka_sasl_password": KAFKA_PASSWORD,
        "kafka_ssl_cafile": str(security.cafile),
    }
    return base_env(app_id, **(secure | settings))


def test_the_pipeline_runs_over_sasl_ssl_and_prints_no_secret(
    secure_kafka: PrivateKafka,
    workers: Callable[..., Process],
    unique: Callable[[str], str],
    database: str,
    tmp_path: Path,
) -> None:
    security = secure_kafka.sasl_security(USER)
    notify, archive_topic, dead = unique("notify"), unique("archive"), unique("dead")
    app_id = unique("app")
    influx_with_password = INFLUX_URL.replace("://", f"://watcher:{INFLUX_PASSWORD}@")
    env = secure_env(
        secure_kafka,
        app_id,
        input_topic=notify,
        archive_topic=archive_topic,
        dead_letter_topic=dead,
        partitions="2",
        influx_url=influx_with_password,
        influx_bucket=database,
        batch_seconds="0.2",
        alert_rules=str(DEFAULT_RULES),
        alerts_topic=unique("alerts"),
    )
    env["APP_DATADIR"] = str(tmp_path / "faust")
    replayed = run_enginewatch("replay", str(RECORDING), "--topic", notify, "--key", "src", env=env)
    assert replayed.returncode == 0, replayed.stderr
    lines = RECORDING.read_bytes().count(b"\n")
    assert f"replayed {lines:,} message(s)" in replayed.stderr

    started = [
        workers(["agents", "-l", "info"], env, name="agents"),
        workers(["archiver", "-l", "info"], env, name="archiver"),
        workers(["alerts", "-l", "info"], env, name="alerts"),
    ]

    def archived() -> list[archive.PointKey]:
        records = kafka.read_all(
            archive_topic, bootstrap=secure_kafka.sasl_bootstrap, security=security
        )
        return [
            key
            for record in records
            if record.value is not None
            for key in archive.keys_of(decode_archive(record.value))
        ]

    def committed(role: str, topic: str) -> int:
        try:
            return kafka.committed(
                f"{app_id}-{role}", topic, bootstrap=secure_kafka.sasl_bootstrap, security=security
            )
        except KafkaError:  # no coordinator yet: a fresh broker makes its offsets topic
            return 0

    # Every input through the agents (their committed offsets reach the end), then
    # every point of the archive topic in InfluxDB, and the alerts worker through
    # the whole archive: all of it crossed SASL_SSL.
    assert wait_until(lambda: committed("agents", notify) >= lines)
    points = set(archived())
    assert points
    assert wait_until(lambda: archive.count_in(INFLUX_URL, database) >= len(points))
    assert set(archive.points_in(INFLUX_URL, database)) == points
    archived_messages = kafka.size(
        archive_topic, bootstrap=secure_kafka.sasl_bootstrap, security=security
    )
    assert wait_until(lambda: committed("alerts", archive_topic) >= archived_messages)

    recording = tmp_path / "archive.jsonl"
    recorded = run_enginewatch(
        "record",
        archive_topic,
        str(recording),
        "--from",
        "beginning",
        "--idle-timeout",
        "3",
        env=env,
    )
    assert recorded.returncode == 0, recorded.stderr
    assert recording.read_bytes().count(b"\n") == archived_messages

    composer = f"http://admin:{COMPOSER_PASSWORD}@127.0.0.1:1"  # nothing listens there
    resolved = run_enginewatch(
        "resolve",
        "--reported",
        env={**env, "ENGINEWATCH_COMPOSER_URL": composer, "ENGINEWATCH_COMPOSER_WORKFLOWS": "w"},
    )
    assert resolved.returncode == 1  # Composer failed; the changelog was read over SASL_SSL
    assert "source output-report failed" not in resolved.stderr, resolved.stderr
    assert "source composer failed: GET http://admin:***@127.0.0.1:1/1/workflow/w/status" in (
        resolved.stderr
    )

    for worker in started:
        worker.stop()
    logs = {
        "agents": started[0].log(),
        "archiver": started[1].log(),
        "alerts": started[2].log(),
        "replay": replayed.stdout + replayed.stderr,
        "record": recorded.stdout + recorded.stderr,
        "resolve": resolved.stdout + resolved.stderr,
    }
    # Real handshakes: every worker's clients authenticated over the TLS listener.
    for name in ("agents", "archiver", "alerts"):
        assert f"Authenticated as {USER} via SCRAM-SHA-512" in logs[name], name
    # The scan can find a secret: the archiver names InfluxDB's URL, masked.
    assert f"{INFLUX_URL.replace('://', '://watcher:***@')}" in logs["archiver"]
    for name, log in logs.items():
        for secret in (KAFKA_PASSWORD, INFLUX_PASSWORD, COMPOSER_PASSWORD):
            assert secret not in log, f"{name} printed a secret"


def refused(args: list[str], env: dict[str, str]) -> tuple[int, list[str], float]:
    """Run a command that must not start: its exit status, output lines and duration."""
    began = time.monotonic()
    done = run_enginewatch(*args, env=env, timeout=REFUSED_WITHIN * 2)
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    return done.returncode, lines, time.monotonic() - began


COMMANDS = [
    ["agents"],
    ["archiver", "--sink", "file", "--dir", "{tmp}"],
    ["replay", "{recording}", "--topic", "never-created"],
    ["record", "never-recorded", "{tmp}/out.jsonl", "--count", "1"],
]


def _command(template: list[str], tmp_path: Path) -> list[str]:
    return [arg.format(tmp=tmp_path, recording=RECORDING) for arg in template]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_a_wrong_password_is_one_line_and_a_non_zero_exit(
    secure_kafka: PrivateKafka, unique: Callable[[str], str], tmp_path: Path, command: list[str]
) -> None:
    env = secure_env(secure_kafka, unique("app"))
    env["ENGINEWATCH_KAFKA_SASL_PASSWORD"] = "not-" + KAFKA_PASSWORD
    status, lines, took = refused(_command(command, tmp_path), env)
    assert status != 0
    assert len(lines) == 1, lines
    assert f"SASL SCRAM-SHA-512 authentication as '{USER}' refused" in lines[0]
    assert "ENGINEWATCH_KAFKA_SASL_PASSWORD" in lines[0]
    assert KAFKA_PASSWORD not in lines[0]
    assert took < REFUSED_WITHIN


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_an_untrusted_certificate_is_one_line_and_a_non_zero_exit(
    secure_kafka: PrivateKafka, unique: Callable[[str], str], tmp_path: Path, command: list[str]
) -> None:
    other_ca, _ = make_ca(tmp_path / "other", "some-other-ca")
    env = secure_env(secure_kafka, unique("app"), kafka_ssl_cafile=str(other_ca))
    status, lines, took = refused(_command(command, tmp_path), env)
    assert status != 0
    assert len(lines) == 1, lines
    assert "the broker's TLS certificate is not trusted" in lines[0]
    assert str(other_ca) in lines[0]
    assert took < REFUSED_WITHIN


def test_the_plaintext_listener_is_not_the_one_spoken_to(secure_kafka: PrivateKafka) -> None:
    """The SASL_SSL port speaks only TLS: a plain-text client gets nowhere, so the
    tests above did handshake."""
    plain = KafkaSecurity()
    status, lines, _ = refused(
        ["record", "x", "/dev/null", "--count", "1"],
        {
            "ENGINEWATCH_BROKER": f"kafka://{secure_kafka.sasl_bootstrap}",
            "ENGINEWATCH_KAFKA_SECURITY_PROTOCOL": plain.protocol,
        },
    )
    assert status != 0
    assert len(lines) == 1, lines
    assert "a TLS listener closes plain-text connections" in lines[0]


def mutual_tls_env(
    broker: PrivateKafka, certificate: ClientCertificate | None, **settings: str
) -> dict[str, str]:
    """Settings for the mutual-TLS listener, with or without a client certificate."""
    assert broker.certificates is not None
    secure = {
        "ENGINEWATCH_BROKER": f"kafka://{broker.mutual_tls_bootstrap}",
        "ENGINEWATCH_KAFKA_SECURITY_PROTOCOL": "SSL",
        "ENGINEWATCH_KAFKA_SSL_CAFILE": str(broker.certificates.ca),
    }
    if certificate is not None:
        secure["ENGINEWATCH_KAFKA_SSL_CERTFILE"] = str(certificate.certificate)
        secure["ENGINEWATCH_KAFKA_SSL_KEYFILE"] = str(certificate.key)
    return secure | settings


def test_mutual_tls_carries_a_recording_with_the_client_certificate(
    secure_kafka: PrivateKafka, unique: Callable[[str], str], tmp_path: Path
) -> None:
    certificates = secure_kafka.certificates
    assert certificates is not None
    client = make_client_certificate(tmp_path, certificates.ca, certificates.ca_key, USER)
    env = mutual_tls_env(secure_kafka, client)
    topic = unique("mtls")
    replayed = run_enginewatch("replay", str(RECORDING), "--topic", topic, env=env, timeout=120)
    assert replayed.returncode == 0, replayed.stderr
    lines = RECORDING.read_bytes().splitlines()
    out = tmp_path / "recorded.jsonl"
    recorded = run_enginewatch(
        "record", topic, str(out), "--from", "beginning", "--count", str(len(lines)),
        env=env, timeout=120,
    )  # fmt: skip
    assert recorded.returncode == 0, recorded.stderr
    assert sorted(out.read_bytes().splitlines()) == sorted(lines)


def test_mutual_tls_refuses_a_client_without_a_certificate_the_ca_signed(
    secure_kafka: PrivateKafka, tmp_path: Path
) -> None:
    other_ca, other_key = make_ca(tmp_path / "other", "some-other-ca")
    strangers = make_client_certificate(tmp_path / "other", other_ca, other_key, USER)
    for certificate in (None, strangers):
        status, lines, took = refused(
            ["record", "never-recorded", str(tmp_path / "out.jsonl"), "--count", "1"],
            mutual_tls_env(secure_kafka, certificate),
        )
        assert status != 0
        assert len(lines) == 1, lines
        assert "cannot connect to Kafka" in lines[0], lines
        assert "does the broker require a client certificate" in lines[0], lines
        assert "ENGINEWATCH_KAFKA_SSL_CERTFILE" in lines[0], lines
        assert took < REFUSED_WITHIN
