"""The InfluxDB side of the measurements: progress read from outside, bulk writes.

Progress is read from InfluxDB's own statistics (`SHOW STATS FOR 'shard'`:
points written per database), which costs the server nothing like a query
over the data would, so it can be asked every 50 ms without slowing the writes
being measured. A point counts there once its write was accepted, which is
when it can be queried. At the end, `count(*)` checks that every field value is
really there. Databases and queries are enginewatch.harness.influx's.
"""

from __future__ import annotations

import gzip
import time
from collections.abc import Sequence

import requests

from benchmarks.rates import Sample
from enginewatch.harness import influx

# Same request size as the archiver's default batch (ENGINEWATCH_BATCH_POINTS).
BULK_LINES = 5000


def field_values(database: str) -> int:
    """How many field values the database holds, over all measurements."""
    return sum(
        sum(value for value in series.values[0][1:] if value)
        for series in influx.query(database, "SELECT count(*) FROM /.*/")
    )


def check_field_values(database: str, expected: int) -> None:
    """Every field value written is there to be queried, no more, no less."""
    found = field_values(database)
    if found != expected:
        raise RuntimeError(f"database {database} holds {found} field values, expected {expected}")


def points_written(database: str) -> int:
    """Points InfluxDB accepted into the database's shards since it started."""
    return sum(
        int(dict(zip(series.columns, series.values[0], strict=True))["writePointsOk"])
        for series in influx.query("", "SHOW STATS FOR 'shard'")
        if series.tags.get("database") == database
    )


def wait_for_points(
    database: str, expected: int, timeout: float, interval: float = 0.05
) -> list[Sample]:
    """Poll until `expected` points were written into the database; the samples tell the pace."""
    samples: list[Sample] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        asked = time.time()
        seen = points_written(database)
        samples.append(Sample(asked, seen))
        if seen >= expected:
            break
        time.sleep(interval)
    return samples


def bulk_write(
    database: str,
    lines: Sequence[str],
    gzip_level: int | None = None,
    per_request: int = BULK_LINES,
) -> float:
    """POST the lines, `per_request` a time, one after the other; lines per second.

    The bodies are built (and compressed, with `gzip_level`) before the clock starts.
    """
    bodies = [
        ("\n".join(lines[start : start + per_request]) + "\n").encode()
        for start in range(0, len(lines), per_request)
    ]
    headers = {}
    if gzip_level is not None:
        bodies = [gzip.compress(body, compresslevel=gzip_level) for body in bodies]
        headers["Content-Encoding"] = "gzip"
    with requests.Session() as session:
        started = time.perf_counter()
        for body in bodies:
            response = session.post(
                f"{influx.LOCAL_URL}/write",
                params={"db": database, "precision": "n"},
                data=body,
                headers=headers,
                timeout=60,
            )
            if response.status_code != 204:
                raise RuntimeError(f"InfluxDB refused a bulk write: {response.text}")
        elapsed = time.perf_counter() - started
    return len(lines) / elapsed
