"""InfluxDB as the demo, the tests and the benchmarks prepare and read it: databases
created and dropped, a server waited for, queries whose rows come as dicts.

Built on the InfluxQL client of enginewatch.core.influxql, one client per call,
with times in nanoseconds (the precision points are written with). Every failure
is an InfluxQueryError saying what InfluxDB answered, or that it did not.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

from enginewatch.core.influxql import InfluxQLClient, InfluxQueryError, Series

LOCAL_URL = "http://127.0.0.1:8086"  # the InfluxDB of `make up`
TIMEOUT = 30.0


def client(
    database: str = "",
    url: str = LOCAL_URL,
    timeout: float = TIMEOUT,
    token: str = "",
    cafile: Path | None = None,
) -> InfluxQLClient:
    """A client for one database (none for statements about the server), times in ns."""
    return InfluxQLClient(url, database, token, timeout=timeout, epoch="ns", cafile=cafile)


def create_database(name: str, url: str = LOCAL_URL) -> None:
    """Create the database; nothing happens when it exists."""
    with closing(client(url=url)) as server:
        server.execute(f'CREATE DATABASE "{name}"')


def drop_database(name: str, url: str = LOCAL_URL) -> None:
    """Drop the database and its data; nothing happens when there is none."""
    with closing(client(url=url)) as server:
        server.execute(f'DROP DATABASE "{name}"')


def wait_until_up(
    url: str = LOCAL_URL,
    timeout: float = 60.0,
    alive: Callable[[], bool] | None = None,
    cafile: Path | None = None,
) -> str:
    """Wait until InfluxDB answers `/ping`; its version. Gives up after `timeout` seconds,
    or as soon as `alive` (the server's process, say) says it ended."""
    deadline = time.monotonic() + timeout
    with closing(client(url=url, timeout=1.0, cafile=cafile)) as server:
        while True:
            try:
                return server.ping()
            except InfluxQueryError as exc:
                if alive is not None and not alive():
                    raise InfluxQueryError(f"InfluxDB at {url} ended before it answered") from None
                if time.monotonic() > deadline:
                    raise InfluxQueryError(f"{exc} (waited {timeout:g}s)") from None
            time.sleep(0.1)


def query(database: str, influxql: str, url: str = LOCAL_URL) -> list[Series]:
    """One InfluxQL statement's series (none when nothing matched)."""
    with closing(client(database, url)) as db:
        return db.query(influxql)


def rows(database: str, influxql: str, url: str = LOCAL_URL) -> list[dict[str, Any]]:
    """A query's rows as dicts: its columns, its series' tags, `_measurement`."""
    found = []
    for series in query(database, influxql, url):
        for values in series.values:
            row = dict(zip(series.columns, values, strict=True))
            row.update(series.tags)
            row["_measurement"] = series.name
            found.append(row)
    return found


def count_points(database: str, url: str = LOCAL_URL) -> int:
    """Every point of every measurement of the database, counted one by one."""
    return sum(
        len(rows(database, f'SELECT * FROM "{name}"', url))
        for series in query(database, "SHOW MEASUREMENTS", url)
        for (name,) in series.values
    )


def wait_for_points(
    database: str, expected: int, timeout: float = 60.0, url: str = LOCAL_URL
) -> int:
    """Count the database's points until there are `expected`, or the time is up; the count."""
    deadline = time.monotonic() + timeout
    seen = 0
    while time.monotonic() < deadline:
        try:
            seen = count_points(database, url)
        except InfluxQueryError:
            seen = 0  # the database is not there yet
        if seen >= expected:
            return seen
        time.sleep(0.5)
    return seen
