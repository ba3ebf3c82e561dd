"""The compose deployment's data path, without Docker: InfluxDB 2.7.12 set up as
compose/ sets it up, the archiver writing through the v2 API with a token that
may only write the bucket, and every dashboard query answered through the v1
compatibility API with a token that may only read it, as Grafana's provisioned
datasource asks (grafana/provisioning/datasources/enginewatch.yaml: the
database is the bucket's DBRP mapping, the token an `Authorization: Token`
header).

The same recording and the same checks as on InfluxDB 1.x
(tests/integration/test_dashboards.py): every variable, panel and annotation
query of Fleet overview and Model detail, interpolated as Grafana does, must
return the series the recording implies, by name and value.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from enginewatch.core.influxql import InfluxQLClient, InfluxQueryError
from enginewatch.harness.processes import Process
from tests.integration.test_dashboards import check_scenarios, load_through_the_pipeline
from tests.support.influxd2 import PrivateInfluxd2, influxd27_binary

pytestmark = pytest.mark.influx27


@pytest.fixture(scope="module")
def influxd27(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateInfluxd2]:
    server = PrivateInfluxd2(tmp_path_factory.mktemp("influxd27"), influxd27_binary())
    server.start()
    yield server
    server.stop()


def count_points(client: InfluxQLClient) -> int:
    """Every point of the database, as the v1 API lists them."""
    try:
        names = [name for series in client.query("SHOW MEASUREMENTS") for (name,) in series.values]
        return sum(
            len(series.values)
            for name in names
            for series in client.query(f'SELECT * FROM "{name}"')
        )
    except InfluxQueryError:
        return 0  # nothing written yet


def test_every_dashboard_query_is_answered_through_the_v1_api_of_influxdb_2(
    influxd27: PrivateInfluxd2,
    workers: Callable[..., Process],
    unique: Callable[[str], str],
    tmp_path: Path,
) -> None:
    # As compose/influxdb/init-dbrp.sh and init-tokens.sh do: the database named
    # like the bucket, and a token to write it and one to read it. Kept forever,
    # unlike compose's 30 days: the recording is from 2024.
    bucket = influxd27.create_bucket(unique("bucket"), retention_seconds=0)
    influxd27.create_dbrp(bucket)
    writer = influxd27.authorize(bucket, "write", description="archiver")
    reader = influxd27.authorize(bucket, "read", description="grafana")
    archiver = {
        "influx_url": influxd27.url,
        "influx_api": "auto",  # /ping names 2.7.12: the v2 write API
        "influx_org": influxd27.org,
        "influx_bucket": bucket.name,
        "influx_token": writer,
    }
    expected = load_through_the_pipeline(workers, unique, bucket.name, tmp_path, archiver)
    client = InfluxQLClient(influxd27.url, bucket.name, reader)
    deadline = time.monotonic() + 120
    while count_points(client) < expected and time.monotonic() < deadline:
        time.sleep(0.5)
    assert count_points(client) == expected

    problems = check_scenarios(client)
    assert problems == [], "\n".join(problems)

    # The reader may only read: its token cannot write through the v1 API either.
    refused = requests.post(
        f"{influxd27.url}/write",
        params={"db": bucket.name},
        data=b"intruder value=1 1714564800000000000\n",
        headers={"Authorization": f"Token {reader}"},
        timeout=10,
    )
    assert refused.status_code == 403, refused.text
