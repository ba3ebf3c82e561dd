"""A private InfluxDB 1.x for tests that stop, kill, freeze and restart it.

It runs the same influxd with the same configuration template as
services/local.sh, on free ports and with its data under the test's own
directory, so stopping it never touches the shared server on 8086.
"""

from __future__ import annotations

import os
import signal
import socket
from pathlib import Path

from enginewatch.core.influxql import InfluxQueryError
from enginewatch.harness import influx
from enginewatch.harness.processes import Process
from tests.support.services import ROOT, built
from tests.support.tls import ServerCertificates

TEMPLATE = ROOT / "services" / "influxdb" / "influxdb.conf"
SHARED_HTTP = "127.0.0.1:8086"
SHARED_RPC = "127.0.0.1:8088"


def influxd18_binary() -> str:
    """InfluxDB 1.8.10's influxd, built once into the cache by services/local.sh."""
    return str(built("local.sh", "influxdb18", timeout=900))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PrivateInfluxd:
    """`start()`, `stop()` (or `kill()`), `start()` again: the data directory stays.
    `freeze()` and `thaw()` stop and continue the process (SIGSTOP, SIGCONT): it
    keeps its connections open and answers nothing meanwhile, as a hung server does."""

    def __init__(
        self,
        directory: Path,
        binary: str = "influxd",
        auth: bool = False,
        tls: ServerCertificates | None = None,
        max_body_size: int = 0,
    ) -> None:
        """`binary`: the influxd to run (Debian's by default); `auth`: with
        authentication on; `tls`: serving HTTPS only, with that certificate;
        `max_body_size`: [http] max-body-size, the largest write body it takes
        (0: no limit)."""
        self.directory = directory
        self.binary, self.auth, self.tls = binary, auth, tls
        self.max_body_size = max_body_size
        self.port = free_port()
        self.rpc_port = free_port()
        scheme = "https" if tls is not None else "http"
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        self.config = directory / "influxdb" / "influxdb.conf"
        self.log_path = directory / "influxd.log"
        self.process: Process | None = None
        self.frozen = False

    def start(self, timeout: float = 60.0) -> None:
        self.config.parent.mkdir(parents=True, exist_ok=True)
        text = TEMPLATE.read_text().replace("@RUN@", str(self.directory))
        text = text.replace(SHARED_HTTP, f"127.0.0.1:{self.port}")
        text = text.replace(SHARED_RPC, f"127.0.0.1:{self.rpc_port}")
        assert str(self.port) in text
        assert str(self.rpc_port) in text
        if self.auth:
            text = text.replace("auth-enabled = false", "auth-enabled = true")
            assert "auth-enabled = true" in text
        if self.tls is not None:
            text = text.replace(
                "  max-body-size = 0\n",
                "  max-body-size = 0\n  https-enabled = true\n"
                f'  https-certificate = "{self.tls.certificate}"\n'
                f'  https-private-key = "{self.tls.key}"\n',
            )
            assert "https-enabled = true" in text
        if self.max_body_size:
            text = text.replace("max-body-size = 0\n", f"max-body-size = {self.max_body_size}\n")
            assert f"max-body-size = {self.max_body_size}\n" in text
        self.config.write_text(text)
        self.process = Process([self.binary, "-config", str(self.config)], {}, self.log_path)
        self.process.start()
        cafile = self.tls.ca if self.tls is not None else None
        try:
            influx.wait_until_up(self.url, timeout, alive=self.process.running, cafile=cafile)
        except InfluxQueryError as exc:
            raise RuntimeError(
                f"private influxd did not start ({exc}); see {self.log_path}"
            ) from None

    def stop(self) -> None:
        if self.process is None:
            return
        self.thaw()  # a stopped process would take SIGTERM only once continued
        self.process.stop()
        self.process = None

    def kill(self) -> None:
        """SIGKILL: a crash, no clean shutdown."""
        if self.process is None:
            return
        self.process.kill()
        self.process = None
        self.frozen = False

    def freeze(self) -> None:
        """SIGSTOP: the server hangs, its sockets stay open."""
        if self.process is not None and not self.frozen:
            os.kill(self.process.pid, signal.SIGSTOP)
            self.frozen = True

    def thaw(self) -> None:
        """SIGCONT: the server goes on where it stopped."""
        if self.process is not None and self.frozen:
            os.kill(self.process.pid, signal.SIGCONT)
            self.frozen = False
