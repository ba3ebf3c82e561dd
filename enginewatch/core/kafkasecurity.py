"""How every Kafka client connects: TLS, SASL, and why a connection is refused.

One `KafkaSecurity` per process, made from its `KafkaConfig`; every aiokafka
client (admin, producer, consumer) takes its keyword arguments from
`client_options`, and the Faust apps their credentials from the same object
(enginewatch/core/faustapp.py). The TLS context always verifies the broker's
certificate and host name; there is no setting that turns that off.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from aiokafka.conn import create_conn
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaError,
    SaslAuthenticationFailed,
    UnsupportedSaslMechanismError,
)
from pydantic import SecretStr

from enginewatch.core.settings import KafkaConfig, SaslMechanism, SecurityProtocol

# How long the start-up probe waits for the broker's answers.
PROBE_TIMEOUT_MS = 15_000


@dataclass(frozen=True)
class KafkaSecurity:
    """The security settings of `KafkaConfig`, as the clients take them."""

    protocol: SecurityProtocol = "PLAINTEXT"
    mechanism: SaslMechanism = "SCRAM-SHA-512"
    username: str = ""
    password: SecretStr = field(default=SecretStr(""), repr=False)
    cafile: Path | None = None
    certfile: Path | None = None
    keyfile: Path | None = None
    key_password: SecretStr = field(default=SecretStr(""), repr=False)

    @classmethod
    def from_config(cls, kafka: KafkaConfig) -> KafkaSecurity:
        return cls(
            protocol=kafka.kafka_security_protocol,
            mechanism=kafka.kafka_sasl_mechanism,
            username=kafka.kafka_sasl_username,
            password=kafka.kafka_sasl_password,
            cafile=kafka.kafka_ssl_cafile,
            certfile=kafka.kafka_ssl_certfile,
            keyfile=kafka.kafka_ssl_keyfile,
            key_password=kafka.kafka_ssl_key_password,
        )

    @property
    def uses_tls(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")

    @property
    def uses_sasl(self) -> bool:
        return self.protocol in ("SASL_PLAINTEXT", "SASL_SSL")

    @cached_property
    def ssl_context(self) -> ssl.SSLContext | None:
        """Verifying the broker's certificate chain and host name; None without TLS.

        Made once: every client of the process shares it (and the files are read once).
        """
        if not self.uses_tls:
            return None
        context = ssl.create_default_context(
            ssl.Purpose.SERVER_AUTH, cafile=str(self.cafile) if self.cafile else None
        )
        if self.certfile is not None:
            context.load_cert_chain(
                self.certfile,
                self.keyfile,
                password=self.key_password.get_secret_value() or None,
            )
        return context


PLAINTEXT = KafkaSecurity()


def client_options(security: KafkaSecurity) -> dict[str, Any]:
    """The keyword arguments every aiokafka client is made with."""
    options: dict[str, Any] = {"security_protocol": security.protocol}
    if security.uses_tls:
        options["ssl_context"] = security.ssl_context
    if security.uses_sasl:
        options |= {
            "sasl_mechanism": security.mechanism,
            "sasl_plain_username": security.username,
            "sasl_plain_password": security.password.get_secret_value(),
        }
    return options


async def connection_problem(bootstrap: str, security: KafkaSecurity) -> str | None:
    """Why no bootstrap server takes a connection (TLS handshake and SASL
    authentication included), in one line; None once one does.

    aiokafka itself only says "Unable to bootstrap" (and logs the cause for
    each try); a refused certificate or password will not get better by
    retrying, so a start-up asks this first and stops with the reason.
    """
    problems: list[str] = []
    for server in bootstrap.split(","):
        host, _, port = server.rpartition(":")
        try:
            conn = await create_conn(
                host.strip("[]"),
                int(port),
                request_timeout_ms=PROBE_TIMEOUT_MS,
                ssl_context=security.ssl_context,
                security_protocol=security.protocol,
                sasl_mechanism=security.mechanism if security.uses_sasl else None,
                sasl_plain_username=security.username or None,
                sasl_plain_password=security.password.get_secret_value() or None,
            )
        except (OSError, KafkaError, ValueError) as exc:  # TimeoutError is an OSError
            problems.append(f"{server}: {explain(exc, security)}")
            continue
        conn.close()
        return None
    return "; ".join(problems)


def explain(exc: BaseException, security: KafkaSecurity) -> str:
    """A connection failure as the operator can act on it."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        where = security.cafile or "the system's CAs"
        return (
            f"the broker's TLS certificate is not trusted ({exc.verify_message}; "
            f"checked against {where}, ENGINEWATCH_KAFKA_SSL_CAFILE)"
        )
    if isinstance(exc, ssl.SSLError):
        return f"TLS handshake failed ({exc.reason or exc}); is the listener {security.protocol}?"
    if isinstance(exc, SaslAuthenticationFailed):
        return (
            f"SASL {security.mechanism} authentication as {security.username!r} refused "
            "(check ENGINEWATCH_KAFKA_SASL_USERNAME and ENGINEWATCH_KAFKA_SASL_PASSWORD)"
        )
    if isinstance(exc, UnsupportedSaslMechanismError):
        return f"{exc} (ENGINEWATCH_KAFKA_SASL_MECHANISM)"
    if isinstance(exc, KafkaConnectionError) and not security.uses_tls:
        return (
            f"{exc}; a TLS listener closes plain-text connections "
            f"(ENGINEWATCH_KAFKA_SECURITY_PROTOCOL is {security.protocol})"
        )
    if isinstance(exc, KafkaConnectionError):
        # Under TLS 1.3 a broker that refuses the client's certificate (or gets
        # none) closes the connection after the handshake: the client sees no more.
        shown = "none" if security.certfile is None else str(security.certfile)
        return (
            f"{exc}: closed after the TLS handshake; does the broker require a client "
            f"certificate its CA signed? (ENGINEWATCH_KAFKA_SSL_CERTFILE: {shown})"
        )
    if isinstance(exc, TimeoutError):
        return (
            "no answer in time (a TLS listener spoken to in plain text, or the other way "
            f"round? ENGINEWATCH_KAFKA_SECURITY_PROTOCOL is {security.protocol})"
        )
    return str(exc) or type(exc).__name__
