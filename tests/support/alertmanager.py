"""A private Alertmanager (v0.35.0) for tests: the real binary, on a free port
of loopback, with its data under the test's directory and clustering off.

The binary is built once by `services/local.sh alertmanager` (from
Alertmanager's Go module, into the user's cache). Its one route sends every
alert, each in a group of its own (`group_by: ['...']`, the groupKey the
delivery worker's own webhook payloads have), to one webhook at once
(`group_wait: 0s`), with resolves, and repeats only after an hour.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson
import requests

from enginewatch.harness.processes import Process
from tests.support.services import built
from tests.support.webhooks import free_port

BUILD_TIMEOUT = 900.0  # a first build on a fresh machine downloads Alertmanager's modules
RECEIVER = "enginewatch"  # as the delivery worker names itself in its own webhook payloads

CONFIG = """\
global:
  resolve_timeout: 5m
route:
  receiver: {receiver}
  group_by: ['...']
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: {receiver}
    webhook_configs:
      - url: {webhook}
        send_resolved: true
"""


def alertmanager_binary() -> Path:
    """The binary, built first when missing (the same script `make up` runs)."""
    return built("local.sh", "alertmanager", timeout=BUILD_TIMEOUT)


class PrivateAlertmanager:
    """`start()`, `stop()` (SIGTERM: it saves its notification log) or `kill()`,
    `start()` again on the same port and data. It keeps alerts in memory only:
    after a restart it knows what it is sent again."""

    def __init__(self, directory: Path, webhook_url: str) -> None:
        self.directory = directory
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = directory / "alertmanager.yml"
        self.data = directory / "data"
        self.log_path = directory / "alertmanager.log"
        self.webhook_url = webhook_url
        self.process: Process | None = None

    def start(self, timeout: float = 30.0) -> PrivateAlertmanager:
        self.data.mkdir(parents=True, exist_ok=True)
        self.config.write_text(CONFIG.format(receiver=RECEIVER, webhook=self.webhook_url))
        argv = [
            str(alertmanager_binary()),
            f"--config.file={self.config}",
            f"--storage.path={self.data}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--cluster.listen-address=",
            "--log.level=debug",
        ]
        self.process = Process(argv, {}, self.log_path).start()
        deadline = time.monotonic() + timeout
        while not self._ready():
            if not self.process.running():
                raise RuntimeError(f"alertmanager exited; see {self.log_path}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"alertmanager not ready in {timeout:g}s; see {self.log_path}")
            time.sleep(0.2)
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process = None

    def alerts(self) -> list[dict[str, Any]]:
        """The alerts it holds active now (`GET /api/v2/alerts`)."""
        response = requests.get(f"{self.url}/api/v2/alerts", timeout=5)
        response.raise_for_status()
        alerts: list[dict[str, Any]] = orjson.loads(response.content)
        return alerts

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def _ready(self) -> bool:
        try:
            return requests.get(f"{self.url}/-/ready", timeout=1).status_code == 200
        except requests.RequestException:
            return False
