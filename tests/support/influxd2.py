"""A private InfluxDB 2.7 for tests: the influxd services/local.sh builds, on a
free port, with its data under the test's own directory.

It is initialised as compose/docker-compose.yml initialises the deployment's
InfluxDB 2.7 (`influx setup`: an org, a bucket with a 30-day retention, an
admin user and an operator token given up front) and, as
compose/influxdb/init-dbrp.sh does, can map the database named like a bucket
(retention policy autogen) onto it, so InfluxQL reads it. `authorize` makes the
least-privilege tokens an operator gives the archiver (write one bucket) and
Grafana (read one bucket).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import requests

from enginewatch.core.influxql import InfluxQueryError
from enginewatch.harness import influx
from enginewatch.harness.processes import Process
from tests.support.influxd import free_port
from tests.support.services import built

# As compose/docker-compose.yml defaults them (INFLUXDB_RETENTION: 30d).
ORG = BUCKET = "enginewatch"
USERNAME = "admin"
PASSWORD = "admin-Secret-7a2e"
TOKEN = "operator-token-for-tests-only-4c1d9b"
RETENTION_SECONDS = 30 * 24 * 3600
REQUEST_TIMEOUT = 30.0

Action = Literal["read", "write"]


def influxd27_binary() -> str:
    """InfluxDB 2.7.12's influxd, built once into the cache by services/local.sh
    (several minutes the first time, so the timeout is generous)."""
    return str(built("local.sh", "influxdb27", timeout=1800))


@dataclass(frozen=True)
class Bucket:
    name: str
    id: str
    org_id: str


class PrivateInfluxd2:
    """`start()` runs and initialises it (org, bucket, admin token); `stop()` ends it.
    Its API is at `url`; `token` is the operator's (all permissions)."""

    def __init__(
        self,
        directory: Path,
        binary: str,
        org: str = ORG,
        bucket: str = BUCKET,
        token: str = TOKEN,
        retention_seconds: int = RETENTION_SECONDS,
    ) -> None:
        self.directory = directory
        self.binary = binary
        self.org, self.bucket_name, self.token = org, bucket, token
        self.retention_seconds = retention_seconds
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = directory / "influxd.log"
        self.process: Process | None = None
        self.bucket: Bucket | None = None  # the one made at set-up
        self._session = requests.Session()
        self._session.headers["Authorization"] = f"Token {token}"

    def start(self, timeout: float = 60.0) -> Bucket:
        """Run influxd and set it up; the bucket made at set-up."""
        self.directory.mkdir(parents=True, exist_ok=True)
        # Run from the data directory: influxd reads a config.* file from its
        # working directory, and a stray one must not change these flags.
        self.process = Process(self._argv(), {}, self.log_path, cwd=self.directory)
        self.process.start()
        try:
            influx.wait_until_up(self.url, timeout, alive=self.process.running)
        except InfluxQueryError as exc:
            raise RuntimeError(
                f"private influxd 2 did not start ({exc}); see {self.log_path}"
            ) from None
        self.bucket = self._setup()
        return self.bucket

    def stop(self) -> None:
        self._session.close()
        if self.process is not None:
            self.process.stop()
            self.process = None

    def create_bucket(self, name: str, retention_seconds: int | None = None) -> Bucket:
        """Another bucket in the org (the same retention as the first by default)."""
        seconds = self.retention_seconds if retention_seconds is None else retention_seconds
        made = self._post(
            "/api/v2/buckets",
            {"orgID": self._org_id(), "name": name, "retentionRules": _retention(seconds)},
        )
        return Bucket(name, str(made["id"]), str(made["orgID"]))

    def create_dbrp(self, bucket: Bucket, database: str | None = None, rp: str = "autogen") -> None:
        """Map `database` (the bucket's name by default) and `rp` onto the bucket, as
        the default retention policy of that database (compose/influxdb/init-dbrp.sh)."""
        self._post(
            "/api/v2/dbrps",
            {
                "orgID": bucket.org_id,
                "bucketID": bucket.id,
                "database": database or bucket.name,
                "retention_policy": rp,
                "default": True,
            },
        )

    def authorize(self, bucket: Bucket, *actions: Action, description: str = "") -> str:
        """A new token allowed only `actions` (read, write) on that one bucket."""
        made = self._post(
            "/api/v2/authorizations",
            {
                "orgID": bucket.org_id,
                "description": description or f"{'+'.join(actions)} {bucket.name}",
                "permissions": [
                    {
                        "action": action,
                        "resource": {"type": "buckets", "id": bucket.id, "orgID": bucket.org_id},
                    }
                    for action in actions
                ],
            },
        )
        return str(made["token"])

    def _argv(self) -> list[str]:
        data = self.directory / "data"
        return [
            self.binary,
            f"--bolt-path={data / 'influxd.bolt'}",
            f"--sqlite-path={data / 'influxd.sqlite'}",
            f"--engine-path={data / 'engine'}",
            f"--http-bind-address=127.0.0.1:{self.port}",
            "--reporting-disabled",
            # No web UI in this build (services/local.sh), and nothing here uses one.
            "--ui-disabled",
            "--log-level=warn",
        ]

    def _setup(self) -> Bucket:
        """What `influx setup` (and the image's DOCKER_INFLUXDB_INIT_MODE=setup) does."""
        made = self._post(
            "/api/v2/setup",
            {
                "username": USERNAME,
                "password": PASSWORD,
                "org": self.org,
                "bucket": self.bucket_name,
                "retentionPeriodSeconds": self.retention_seconds,
                "token": self.token,
            },
        )
        return Bucket(self.bucket_name, str(made["bucket"]["id"]), str(made["org"]["id"]))

    def _org_id(self) -> str:
        if self.bucket is None:
            raise RuntimeError("the private influxd 2 is not set up: start() it first")
        return self.bucket.org_id

    def _post(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        response = self._session.post(f"{self.url}{path}", json=payload, timeout=REQUEST_TIMEOUT)
        if response.status_code != 201:
            raise RuntimeError(
                f"POST {path} answered {response.status_code}: {response.text[:300]}"
            )
        body: dict[str, Any] = response.json()
        return body


def _retention(seconds: int) -> list[dict[str, object]]:
    """A bucket's retention rules: none keeps its data forever."""
    return [{"type": "expire", "everySeconds": seconds}] if seconds else []
