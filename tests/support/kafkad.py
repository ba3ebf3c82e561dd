"""A private Kafka broker for tests that stop and restart it, or that need a
secured listener.

It runs the same jars with the same configuration template as services/local.sh
(a single KRaft node, broker and controller in one process), on free ports and
with its data and logs under the test's own directory, so stopping it never
touches the shared broker on 9092 that every other test uses.

With `sasl_ssl=SaslSsl(...)` it also has a SASL_SSL listener beside its
PLAINTEXT one: a certificate made at start by tests/support/tls.py, SCRAM
users made by Kafka's own storage tool when the node is formatted
(`--add-scram`), and the same users for PLAIN in the listener's JAAS config.
With `mutual_tls=True` as well, an SSL listener that requires a client
certificate signed by the same CA (mutual TLS).
"""

from __future__ import annotations

import base64
import os
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka.errors import KafkaError
from pydantic import SecretStr

from enginewatch.core.kafka import ToolError
from enginewatch.core.kafkasecurity import KafkaSecurity
from enginewatch.core.settings import SaslMechanism
from enginewatch.harness import kafka
from enginewatch.harness.processes import Process
from tests.support.influxd import free_port
from tests.support.services import ROOT, port_open
from tests.support.tls import ServerCertificates, make_server_certificates

TEMPLATE = ROOT / "services" / "kafka" / "server.properties"
LOG4J = ROOT / "services" / "kafka" / "log4j.properties"
SHARED_BROKER = "127.0.0.1:9092"
SHARED_CONTROLLER = "127.0.0.1:9093"


def kafka_libs() -> Path:
    """Where services/local.sh keeps Kafka's jars (it fetches them on `make up`)."""
    cache = os.environ.get("KAFKA_CACHE")
    if cache:
        return Path(cache) / "lib"
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "enginewatch" / "kafka-3.9.1" / "lib"


def cluster_id() -> str:
    """A KRaft cluster id as `kafka-storage random-uuid` makes one (URL-safe base64 of
    16 random bytes, unpadded, never starting with a dash)."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text


SCRAM_MECHANISMS = ("SCRAM-SHA-256", "SCRAM-SHA-512")


@dataclass(frozen=True)
class SaslSsl:
    """A SASL_SSL listener: its users (name -> password), for SCRAM and PLAIN."""

    users: dict[str, str] = field(default_factory=lambda: {"enginewatch": "sasl-secret"})
    keystore_password: str = "keystore-secret"


class PrivateKafka:
    """`start()`, `stop()`, `start()` again: the data directory, hence every topic,
    message and committed offset, stays."""

    def __init__(
        self, directory: Path, sasl_ssl: SaslSsl | None = None, mutual_tls: bool = False
    ) -> None:
        assert sasl_ssl is not None or not mutual_tls, "mutual TLS uses the SASL_SSL certificates"
        self.directory = directory
        self.port = free_port()
        self.controller_port = free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.broker_url = f"kafka://{self.bootstrap}"  # as ENGINEWATCH_BROKER names it
        self.config = directory / "kafka" / "server.properties"
        self.logs = directory / "kafka" / "logs"
        self.log_path = self.logs / "stdout.log"
        self.process: Process | None = None
        self.sasl_ssl = sasl_ssl
        self.sasl_port = free_port() if sasl_ssl else None
        self.mutual_tls_port = free_port() if mutual_tls else None
        self.certificates: ServerCertificates | None = None

    @property
    def sasl_bootstrap(self) -> str:
        assert self.sasl_port is not None, "no SASL_SSL listener"
        return f"127.0.0.1:{self.sasl_port}"

    @property
    def mutual_tls_bootstrap(self) -> str:
        assert self.mutual_tls_port is not None, "no mutual TLS listener"
        return f"127.0.0.1:{self.mutual_tls_port}"

    def sasl_security(self, user: str, mechanism: SaslMechanism = "SCRAM-SHA-512") -> KafkaSecurity:
        """How a client of the SASL_SSL listener connects as `user`, trusting its CA."""
        assert self.sasl_ssl is not None, "no SASL_SSL listener"
        assert self.certificates is not None, "start() first"
        return KafkaSecurity(
            protocol="SASL_SSL",
            mechanism=mechanism,
            username=user,
            password=SecretStr(self.sasl_ssl.users[user]),
            cafile=self.certificates.ca,
        )

    def _java(self, *args: str) -> list[str]:
        libs = kafka_libs()
        if not libs.is_dir():
            raise RuntimeError(f"Kafka's jars are not in {libs}; `make up` fetches them")
        return [
            "java",
            "-Xms128m",
            "-Xmx512m",
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dlog4j.configuration=file:{LOG4J}",
            f"-Dkafka.logs.dir={self.logs}",
            "-cp",
            f"{libs}/*",
            *args,
        ]

    def _configure(self) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        text = TEMPLATE.read_text().replace("@RUN@", str(self.directory))
        text = text.replace(SHARED_BROKER, self.bootstrap)
        text = text.replace(SHARED_CONTROLLER, f"127.0.0.1:{self.controller_port}")
        assert SHARED_BROKER not in text
        assert SHARED_CONTROLLER not in text
        assert f"1@127.0.0.1:{self.controller_port}" in text
        if self.sasl_ssl is not None:
            text = self._with_sasl_ssl(text, self.sasl_ssl)
        self.config.write_text(text)
        if not (self.directory / "kafka" / "data" / "meta.properties").exists():
            subprocess.run(
                self._java(
                    "kafka.tools.StorageTool",
                    "format",
                    "--ignore-formatted",
                    "-t",
                    cluster_id(),
                    "-c",
                    str(self.config),
                    *self._scram_users(),
                ),
                check=True,
                capture_output=True,
                timeout=120,
            )

    def _scram_users(self) -> list[str]:
        """`--add-scram` arguments: every user, for both SCRAM mechanisms."""
        if self.sasl_ssl is None:
            return []
        return [
            argument
            for name, password in self.sasl_ssl.users.items()
            for mechanism in SCRAM_MECHANISMS
            for argument in ("--add-scram", f"{mechanism}=[name={name},password={password}]")
        ]

    def _with_sasl_ssl(self, text: str, sasl: SaslSsl) -> str:
        """The template's configuration with a SASL_SSL listener added."""
        if self.certificates is None:
            tls = self.directory / "kafka" / "tls"
            self.certificates = make_server_certificates(tls, sasl.keystore_password)
        listeners = [f"SASL_SSL://127.0.0.1:{self.sasl_port}"]
        protocols = ["SASL_SSL:SASL_SSL"]
        if self.mutual_tls_port is not None:
            listeners.append(f"SSL://127.0.0.1:{self.mutual_tls_port}")
            protocols.append("SSL:SSL")
        lines = []
        for line in text.splitlines():
            if line.startswith(("listeners=", "advertised.listeners=")):
                line = ",".join([line, *listeners])
            elif line.startswith("listener.security.protocol.map="):
                line = ",".join([line, *protocols])
            lines.append(line)
        plain_users = " ".join(f'user_{n}="{p}"' for n, p in sasl.users.items())
        prefix = "listener.name.sasl_ssl"
        certificates = self.certificates
        lines += [
            "sasl.enabled.mechanisms=SCRAM-SHA-512,SCRAM-SHA-256,PLAIN",
            f"{prefix}.scram-sha-512.sasl.jaas.config="
            "org.apache.kafka.common.security.scram.ScramLoginModule required;",
            f"{prefix}.scram-sha-256.sasl.jaas.config="
            "org.apache.kafka.common.security.scram.ScramLoginModule required;",
            f"{prefix}.plain.sasl.jaas.config="
            f"org.apache.kafka.common.security.plain.PlainLoginModule required {plain_users};",
            f"{prefix}.ssl.keystore.type=PKCS12",
            f"{prefix}.ssl.keystore.location={certificates.keystore}",
            f"{prefix}.ssl.keystore.password={certificates.keystore_password}",
            f"{prefix}.ssl.key.password={certificates.keystore_password}",
        ]
        if self.mutual_tls_port is not None:
            mutual = "listener.name.ssl"
            lines += [
                f"{mutual}.ssl.keystore.type=PKCS12",
                f"{mutual}.ssl.keystore.location={certificates.keystore}",
                f"{mutual}.ssl.keystore.password={certificates.keystore_password}",
                f"{mutual}.ssl.key.password={certificates.keystore_password}",
                # Clients must show a certificate this CA signed.
                f"{mutual}.ssl.truststore.type=PEM",
                f"{mutual}.ssl.truststore.location={certificates.ca}",
                f"{mutual}.ssl.client.auth=required",
            ]
        return "\n".join(lines) + "\n"

    def start(self, timeout: float = 90.0) -> None:
        """Start the broker and return once it answers metadata requests."""
        self._configure()
        self.process = Process(self._java("kafka.Kafka", str(self.config)), {}, self.log_path)
        self.process.start()
        deadline = time.monotonic() + timeout
        while True:
            self.process.check()
            if port_open(("127.0.0.1", self.port)):
                try:
                    kafka.partitions("enginewatch-probe", bootstrap=self.bootstrap)
                    return
                except (KafkaError, ToolError, OSError):
                    pass
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"private Kafka did not start in {timeout:g}s; see {self.logs}/server.log"
                )
            time.sleep(0.2)

    def stop(self) -> None:
        """SIGTERM: a controlled shutdown, as an operator's restart does."""
        if self.process is None:
            return
        self.process.stop(timeout=60)
        self.process = None
