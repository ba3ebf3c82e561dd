"""Security settings: Kafka TLS and SASL options, secrets never printed, URLs masked,
the Retry-After cap."""

from __future__ import annotations

import asyncio
import logging
import ssl
from pathlib import Path

import faust
import pytest
import requests
from aiokafka.errors import KafkaError
from pydantic import SecretStr

from agents.resolve.sources import SourceError, fetch_composer
from archiver.influx_v1 import InfluxV1Sink
from archiver.influx_v2 import InfluxV2Sink
from archiver.sink import Refused, Unavailable, unreachable
from enginewatch.core.faustapp import create_faust_app, faust_credentials
from enginewatch.core.kafka import KafkaUnreachable, ToolError, check_connection, describe
from enginewatch.core.kafkasecurity import PLAINTEXT, KafkaSecurity, client_options
from enginewatch.core.redact import mask_url, mask_urls
from enginewatch.core.retry import RETRY_AFTER_MAX, Backoff, cap_retry_after
from enginewatch.core.settings import KafkaConfig, SettingsError, load_settings
from enginewatch.core.tls import certificate_problem
from tests.support.influx2 import Answer, FakeInfluxV2
from tests.support.tls import make_ca, make_server_certificates

PASSWORD = "kafka-pa55word"


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("http://localhost:8086", "http://localhost:8086"),
        ("http://user:pa55@influx:8086/", "http://user:***@influx:8086/"),
        ("https://token@composer.example/api", "https://***@composer.example/api"),
        ("http://h:8086/query?db=x&u=me&p=pa55", "http://h:8086/query?db=x&u=me&p=***"),
        ("http://h/x?token=abc&a=1", "http://h/x?token=***&a=1"),
        ("kafka://user:pa55@broker:9092", "kafka://user:***@broker:9092"),
    ],
)
def test_mask_url_hides_passwords_and_secret_parameters(url: str, masked: str) -> None:
    assert mask_url(url) == masked


def test_mask_urls_masks_every_url_in_a_message() -> None:
    text = "401 Client Error: Unauthorized for url: http://admin:pa55@composer:8010/1/x, retry"
    assert mask_urls(text) == (
        "401 Client Error: Unauthorized for url: http://admin:***@composer:8010/1/x, retry"
    )
    assert "pa55" not in describe(OSError(text), "broker:9092")


def sasl_env(**extra: str) -> dict[str, str]:
    return {
        "ENGINEWATCH_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "ENGINEWATCH_KAFKA_SASL_USERNAME": "watcher",
        "ENGINEWATCH_KAFKA_SASL_PASSWORD": PASSWORD,
        **extra,
    }


def test_kafka_security_comes_from_the_environment_and_is_never_printed(tmp_path: Path) -> None:
    ca, _ = make_ca(tmp_path, "ca")
    settings = load_settings(
        sasl_env(
            ENGINEWATCH_KAFKA_SASL_MECHANISM="SCRAM-SHA-256", ENGINEWATCH_KAFKA_SSL_CAFILE=str(ca)
        )
    )
    security = KafkaSecurity.from_config(settings.kafka)
    assert (security.protocol, security.mechanism, security.username, security.cafile) == (
        "SASL_SSL",
        "SCRAM-SHA-256",
        "watcher",
        ca,
    )
    assert security.password.get_secret_value() == PASSWORD
    for shown in (repr(settings), str(settings), repr(security), settings.model_dump_json()):
        assert PASSWORD not in shown


def test_defaults_are_plain_text_and_the_brokers_replication_factor() -> None:
    kafka = load_settings({}).kafka
    assert KafkaSecurity.from_config(kafka) == PLAINTEXT
    assert kafka.replication_factor is None
    assert client_options(PLAINTEXT) == {"security_protocol": "PLAINTEXT"}
    assert load_settings({}).retry.retry_after_max == RETRY_AFTER_MAX == 60.0


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        (
            {"ENGINEWATCH_KAFKA_SECURITY_PROTOCOL": "SASL_SSL"},
            "SASL_SSL needs ENGINEWATCH_KAFKA_SASL_USERNAME and ENGINEWATCH_KAFKA_SASL_PASSWORD",
        ),
        (
            {"ENGINEWATCH_KAFKA_SASL_PASSWORD": PASSWORD},
            "a SASL username or password is set but ENGINEWATCH_KAFKA_SECURITY_PROTOCOL is "
            "PLAINTEXT",
        ),
        (
            sasl_env(ENGINEWATCH_KAFKA_SECURITY_PROTOCOL="SASL_PLAINTEXT")
            | {"ENGINEWATCH_KAFKA_SSL_CAFILE": __file__},
            "TLS files are set but ENGINEWATCH_KAFKA_SECURITY_PROTOCOL is SASL_PLAINTEXT",
        ),
        (
            sasl_env(ENGINEWATCH_KAFKA_SSL_KEYFILE=__file__),
            "ENGINEWATCH_KAFKA_SSL_KEYFILE needs ENGINEWATCH_KAFKA_SSL_CERTFILE",
        ),
        (
            sasl_env(ENGINEWATCH_KAFKA_SSL_CAFILE="/no/such/ca.pem"),
            "ENGINEWATCH_KAFKA_SSL_CAFILE: Value error, no such file: /no/such/ca.pem",
        ),
        (
            sasl_env(ENGINEWATCH_KAFKA_SASL_MECHANISM="GSSAPI"),
            "ENGINEWATCH_KAFKA_SASL_MECHANISM: Input should be 'PLAIN', 'SCRAM-SHA-256' or "
            "'SCRAM-SHA-512' (got 'GSSAPI')",
        ),
        ({"ENGINEWATCH_REPLICATION_FACTOR": "0"}, "ENGINEWATCH_REPLICATION_FACTOR"),
        ({"ENGINEWATCH_RETRY_AFTER_MAX": "0"}, "ENGINEWATCH_RETRY_AFTER_MAX"),
    ],
)
def test_an_incomplete_security_setting_is_one_line_without_secrets(
    environ: dict[str, str], message: str
) -> None:
    with pytest.raises(SettingsError) as error:
        load_settings(environ)
    text = str(error.value)
    assert message in text
    assert "\n" not in text
    assert PASSWORD not in text


def test_a_wrong_url_is_reported_with_its_password_masked() -> None:
    with pytest.raises(SettingsError) as error:
        load_settings({"ENGINEWATCH_INFLUX_URL": "ftp://admin:pa55@influx:8086"})
    assert "ftp://admin:***@influx:8086" in str(error.value)
    assert "pa55" not in str(error.value)


def test_the_tls_context_verifies_the_broker_certificate_and_host(tmp_path: Path) -> None:
    ca, _ = make_ca(tmp_path, "ca")
    for protocol in ("SSL", "SASL_SSL"):
        security = KafkaSecurity(protocol=protocol, cafile=ca)
        context = client_options(security)["ssl_context"]
        assert isinstance(context, ssl.SSLContext)
        assert context.verify_mode == ssl.CERT_REQUIRED
        assert context.check_hostname is True
    assert KafkaSecurity(protocol="SASL_PLAINTEXT").ssl_context is None


def test_sasl_options_name_the_mechanism_and_credentials(tmp_path: Path) -> None:
    ca, _ = make_ca(tmp_path, "ca")
    security = KafkaSecurity("SASL_SSL", "SCRAM-SHA-512", "watcher", SecretStr(PASSWORD), ca)
    options = client_options(security)
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (options["sasl_plain_username"], options["sasl_plain_password"]) == ("watcher", PASSWORD)


def test_faust_gets_the_same_credentials_acks_all_and_the_replication_factor(
    tmp_path: Path,
) -> None:
    ca, _ = make_ca(tmp_path, "ca")
    kafka = KafkaConfig(
        replication_factor=3,
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_username="watcher",
        kafka_sasl_password=SecretStr(PASSWORD),
        kafka_ssl_cafile=ca,
    )
    credentials = faust_credentials(KafkaSecurity.from_config(kafka))
    assert isinstance(credentials, faust.SASLCredentials)
    assert credentials.protocol.value == "SASL_SSL"
    assert credentials.mechanism.value == "SCRAM-SHA-512"
    assert PASSWORD not in repr(credentials)
    app = create_faust_app(kafka, "security-test")
    assert isinstance(app.conf.broker_credentials, faust.SASLCredentials)
    assert app.conf.broker_credentials.username == "watcher"
    assert app.conf.producer_acks == -1
    assert app.conf.topic_replication_factor == 3
    ssl_only = KafkaSecurity(protocol="SSL", cafile=ca)
    assert isinstance(faust_credentials(ssl_only), faust.SSLCredentials)
    assert faust_credentials(PLAINTEXT) is None


def test_a_retry_after_beyond_the_setting_is_capped_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="enginewatch.core.retry"):
        assert cap_retry_after(3600.0, 60.0) == 60.0
        assert cap_retry_after(60.0, 60.0) == 60.0
        assert cap_retry_after(None, 60.0) is None
        assert Backoff().delay(1, retry_after=3600.0) == 3600.0  # the sink capped it already
    assert [r.getMessage() for r in caplog.records] == ["Retry-After of 3600 s capped at 60 s"]


def test_the_v2_sink_caps_retry_after_at_the_setting(caplog: pytest.LogCaptureFixture) -> None:
    with FakeInfluxV2(token="t", org="acme", bucket="metrics") as server:
        server.answer_next(Answer(429, {"code": "too many requests"}, {"Retry-After": "3600"}))
        influx = load_settings(
            {
                "ENGINEWATCH_INFLUX_URL": server.url,
                "ENGINEWATCH_INFLUX_ORG": "acme",
                "ENGINEWATCH_INFLUX_BUCKET": "metrics",
                "ENGINEWATCH_INFLUX_TOKEN": "t",
            }
        ).influx
        sink = InfluxV2Sink(influx, retry_after_max=45.0)

        async def write() -> Unavailable:
            try:
                await sink.write(b"m v=1 1\n")
            except Unavailable as exc:
                return exc
            finally:
                await sink.close()
            raise AssertionError("a 429 must be Unavailable")

        with caplog.at_level(logging.WARNING, logger="enginewatch.core.retry"):
            failure = asyncio.run(write())
    assert failure.retry_after == 45.0
    assert "Retry-After of 3600 s capped at 45 s" in caplog.messages


def test_sinks_name_their_url_without_its_password() -> None:
    influx = load_settings({"ENGINEWATCH_INFLUX_URL": "http://admin:pa55@influx:8086"}).influx
    for sink in (InfluxV1Sink(influx), InfluxV2Sink(influx)):
        assert "pa55" not in sink.description
        assert "http://admin:***@influx:8086" in sink.description


def test_a_client_certificate_and_key_are_loaded_into_the_context(tmp_path: Path) -> None:
    made = make_server_certificates(tmp_path, "unused")
    security = KafkaSecurity(
        protocol="SSL",
        cafile=made.ca,
        certfile=tmp_path / "broker.pem",
        keyfile=tmp_path / "broker.key",
    )
    context = security.ssl_context
    assert context is not None
    assert context.verify_mode == ssl.CERT_REQUIRED
    wrong_key = KafkaSecurity(
        protocol="SSL", cafile=made.ca, certfile=tmp_path / "broker.pem", keyfile=made.ca
    )
    with pytest.raises(ssl.SSLError):
        _ = wrong_key.ssl_context


def test_an_unreachable_broker_is_both_a_tool_error_and_a_kafka_error() -> None:
    async def unreachable() -> None:
        await check_connection("127.0.0.1:1")

    with pytest.raises(KafkaUnreachable) as error:
        asyncio.run(unreachable())
    assert isinstance(error.value, ToolError)
    assert isinstance(error.value, KafkaError)
    assert str(error.value).startswith("cannot connect to Kafka at 127.0.0.1:1: ")


def test_a_failing_composer_is_reported_with_its_password_masked() -> None:
    with pytest.raises(SourceError) as error:
        fetch_composer(requests.Session(), "http://admin:pa55@127.0.0.1:1", ["w"], timeout=2.0)
    assert "GET http://admin:***@127.0.0.1:1/1/workflow/w/status: " in str(error.value)
    assert "pa55" not in str(error.value)


def test_an_influx_ca_file_must_exist_and_needs_an_https_url(tmp_path: Path) -> None:
    ca, _ = make_ca(tmp_path, "influx-ca")
    https = {
        "ENGINEWATCH_INFLUX_URL": "https://influx:8086",
        "ENGINEWATCH_INFLUX_SSL_CAFILE": str(ca),
    }
    assert load_settings(https).influx.ssl_cafile == ca
    with pytest.raises(SettingsError, match="is not https://"):
        load_settings({**https, "ENGINEWATCH_INFLUX_URL": "http://influx:8086"})
    with pytest.raises(SettingsError, match="no such file"):
        load_settings({**https, "ENGINEWATCH_INFLUX_SSL_CAFILE": str(tmp_path / "none.pem")})


def test_a_certificate_failure_is_found_however_deeply_it_is_wrapped() -> None:
    failure = ssl.SSLCertVerificationError(1, "certificate verify failed")
    failure.verify_message = "unable to get local issuer certificate"
    # As requests wraps it: SSLError(MaxRetryError(reason=SSLError(failure))).
    inner = requests.exceptions.SSLError(failure)
    retries = type("MaxRetryError", (Exception,), {})("too many")
    retries.reason = inner  # type: ignore[attr-defined]
    wrapped = requests.exceptions.SSLError(retries)
    assert certificate_problem(wrapped) == "unable to get local issuer certificate"
    assert certificate_problem(ConnectionRefusedError(111, "refused")) is None
    refused = unreachable(wrapped, "https://influx:8086")
    assert isinstance(refused, Refused), "a setting to fix, not an outage to wait out"
    assert "ENGINEWATCH_INFLUX_SSL_CAFILE" in str(refused)
    outage = unreachable(ConnectionRefusedError(111, "refused"), "https://influx:8086")
    assert type(outage) is Unavailable
