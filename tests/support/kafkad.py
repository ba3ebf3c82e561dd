"""A private Kafka broker for tests that stop and restart it.

It runs the same jars with the same configuration template as services/local.sh
(a single KRaft node, broker and controller in one process), on free ports and
with its data and logs under the test's own directory, so stopping it never
touches the shared broker on 9092 that every other test uses.
"""

from __future__ import annotations

import base64
import os
import subprocess
import time
import uuid
from pathlib import Path

from aiokafka.errors import KafkaError

from enginewatch.core.kafka import ToolError
from enginewatch.harness import kafka
from enginewatch.harness.processes import Process
from tests.support.influxd import free_port
from tests.support.services import ROOT, port_open

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


class PrivateKafka:
    """`start()`, `stop()`, `start()` again: the data directory, hence every topic,
    message and committed offset, stays."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.controller_port = free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.broker_url = f"kafka://{self.bootstrap}"  # as ENGINEWATCH_BROKER names it
        self.config = directory / "kafka" / "server.properties"
        self.logs = directory / "kafka" / "logs"
        self.log_path = self.logs / "stdout.log"
        self.process: Process | None = None

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
                ),
                check=True,
                capture_output=True,
                timeout=120,
            )

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
