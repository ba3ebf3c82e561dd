"""A small InfluxQL client over InfluxDB's v1 `/query` API, as Grafana's datasource uses it.

Queries (GET), the statements that change the server such as `CREATE DATABASE`
(POST), and `/ping`.

The same API serves InfluxDB 1.x and, through its v1 compatibility layer, 2.x
(the database is a DBRP mapping of the bucket, the token an
`Authorization: Token ...` header). A token `username:password` is a 1.x user,
sent as basic authentication. https:// servers are verified, against a CA file
when one is given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from enginewatch.core.redact import mask_url
from enginewatch.core.settings import InfluxConfig


class InfluxQueryError(RuntimeError):
    """InfluxDB refused a query or could not be reached; the message says which and why."""


@dataclass(frozen=True, slots=True)
class Series:
    """One series of a query result; times are epoch milliseconds, or the client's `epoch`."""

    name: str
    tags: Mapping[str, str]
    columns: Sequence[str]
    values: Sequence[Sequence[Any]]


class InfluxQLClient:
    def __init__(
        self,
        url: str,
        database: str,
        token: str = "",
        retention_policy: str | None = None,
        timeout: float = 10.0,
        epoch: str = "ms",
        cafile: Path | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.shown = mask_url(self.url)  # as messages print it: no credentials
        self.database = database
        self.retention_policy = retention_policy
        self.timeout = timeout
        self.epoch = epoch  # the unit of the times in a result: "ms", "ns", ...
        self.session = requests.Session()
        # Verification stays on; a private CA is trusted by its file. Passed with
        # each request: a session's own `verify` loses to REQUESTS_CA_BUNDLE.
        self.verify: str | bool = str(cafile) if cafile is not None else True
        if ":" in token:
            # A 1.x user (`username:password`), which every 1.x takes as basic
            # authentication; a 2.x token has no colon.
            username, _, password = token.partition(":")
            self.session.auth = (username, password)
        elif token:
            self.session.headers["Authorization"] = f"Token {token}"

    @classmethod
    def from_config(cls, influx: InfluxConfig) -> InfluxQLClient:
        return cls(
            influx.url,
            influx.database,
            influx.token.get_secret_value(),
            influx.retention_policy,
            influx.timeout,
            cafile=influx.ssl_cafile,
        )

    def query(self, influxql: str) -> list[Series]:
        """Run one InfluxQL statement; its series (none when nothing matched)."""
        params = {"db": self.database, "q": influxql, "epoch": self.epoch}
        if self.retention_policy:
            params["rp"] = self.retention_policy
        result = self._result("GET", params, influxql, f"InfluxDB at {self.shown} unreachable")
        return [
            Series(
                name=str(s.get("name", "")),
                tags=dict(s.get("tags") or {}),
                columns=list(s.get("columns") or []),
                values=[list(v) for v in s.get("values") or []],
            )
            for s in result.get("series") or []
        ]

    def execute(self, statement: str) -> None:
        """Run one statement that changes the server, such as `CREATE DATABASE "x"`.

        InfluxDB takes those by POST only; they name their database themselves.
        """
        self._result(
            "POST",
            {"q": statement},
            statement,
            f"InfluxDB at {self.shown} did not take {statement!r}",
        )

    def ping(self) -> str:
        """The server's version, from `/ping`; raises when it does not answer."""
        try:
            response = self.session.get(
                f"{self.url}/ping", timeout=self.timeout, verify=self.verify
            )
        except requests.RequestException as exc:
            raise InfluxQueryError(f"InfluxDB at {self.shown} unreachable: {exc}") from None
        if not response.ok:
            raise InfluxQueryError(
                f"InfluxDB at {self.shown} answered /ping {response.status_code}"
            )
        return response.headers.get("X-Influxdb-Version", "unknown")

    def close(self) -> None:
        self.session.close()

    def _result(
        self, method: str, params: Mapping[str, str], statement: str, unreachable: str
    ) -> dict[str, Any]:
        """The result of the one statement sent to `/query`, or an InfluxQueryError."""
        try:
            response = self.session.request(
                method, f"{self.url}/query", params=params, timeout=self.timeout, verify=self.verify
            )
        except requests.RequestException as exc:
            raise InfluxQueryError(f"{unreachable}: {exc}") from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if not response.ok or not isinstance(body, dict):
            # InfluxDB 1.x says {"error": ...}; 2.x's v1 API {"code": ..., "message": ...}.
            detail = (
                body.get("error") or body.get("message") if isinstance(body, dict) else None
            ) or response.text[:200]
            raise InfluxQueryError(f"InfluxDB answered {response.status_code}: {detail}")
        if "error" in body:
            raise InfluxQueryError(f"InfluxDB: {body['error']}")
        results = body.get("results") or [{}]
        result: dict[str, Any] = results[0]
        if "error" in result:
            raise InfluxQueryError(f"InfluxDB: {result['error']} (query: {statement})")
        return result
