"""BASELINE: a minimal InfluxDB 1.x client in the style of the `influxdb` package.

`write_points(points)` turns a list of point dicts into line protocol and
POSTs it to /write: one HTTP request per call.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import requests


class InfluxDBClient:
    def __init__(self, url: str, database: str) -> None:
        self.url = url.rstrip("/")
        self.database = database
        self.session = requests.Session()

    def create_database(self, name: str) -> None:
        self.session.post(f"{self.url}/query", params={"q": f'CREATE DATABASE "{name}"'})

    def write_points(self, points: list[dict[str, Any]]) -> None:
        body = "\n".join(_line(point) for point in points) + "\n"
        response = self.session.post(
            f"{self.url}/write",
            params={"db": self.database, "precision": "n"},
            data=body.encode("utf-8"),
        )
        response.raise_for_status()


def _line(point: dict[str, Any]) -> str:
    measurement = point["measurement"].replace(",", "\\,").replace(" ", "\\ ")
    fields = ",".join(
        f"{key.replace(' ', chr(92) + ' ')}={float(value)!r}"
        for key, value in point["fields"].items()
    )
    moment = datetime.strptime(point["time"], "%Y-%m-%dT%H:%M:%S.%fZ")
    nanoseconds = round((moment - datetime(1970, 1, 1)).total_seconds() * 1e6) * 1000
    return f"{measurement} {fields} {nanoseconds}"
