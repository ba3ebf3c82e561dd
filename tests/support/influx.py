"""InfluxDB 1.x over its HTTP API, for tests: databases and queries."""

from __future__ import annotations

import time
from typing import Any

import requests

from tests.support.services import INFLUX_URL


def query(database: str, influxql: str, url: str = INFLUX_URL) -> list[dict[str, Any]]:
    """Run an InfluxQL query; return its series (name, tags, columns, values)."""
    response = requests.get(
        f"{url}/query",
        params={"db": database, "q": influxql, "epoch": "ns"},
        timeout=30,
    )
    response.raise_for_status()
    result = response.json()["results"][0]
    if "error" in result:
        raise RuntimeError(result["error"])
    series: list[dict[str, Any]] = result.get("series", [])
    return series


def rows(database: str, influxql: str) -> list[dict[str, Any]]:
    """A query's rows as dicts, with the series' tags merged in."""
    out = []
    for series in query(database, influxql):
        for values in series["values"]:
            row = dict(zip(series["columns"], values, strict=True))
            row.update(series.get("tags") or {})
            row["_measurement"] = series["name"]
            out.append(row)
    return out


def count_points(database: str) -> int:
    """Every point in every measurement of the database."""
    total = 0
    for series in query(database, "SHOW MEASUREMENTS"):
        for (name,) in series["values"]:
            total += len(rows(database, f'SELECT * FROM "{name}"'))
    return total


def wait_for_points(database: str, expected: int, timeout: float = 60.0) -> int:
    deadline = time.monotonic() + timeout
    seen = 0
    while time.monotonic() < deadline:
        try:
            seen = count_points(database)
        except (RuntimeError, requests.RequestException):
            seen = 0
        if seen >= expected:
            return seen
        time.sleep(0.5)
    return seen


def drop_database(database: str) -> None:
    requests.post(f"{INFLUX_URL}/query", params={"q": f'DROP DATABASE "{database}"'}, timeout=30)


def create_database(database: str) -> None:
    response = requests.post(
        f"{INFLUX_URL}/query", params={"q": f'CREATE DATABASE "{database}"'}, timeout=30
    )
    response.raise_for_status()
