"""The InfluxDB 1.x write API (`POST /write?db=&rp=`), for servers before 1.8.

The bucket setting names `database` or `database/retention-policy`. A missing
database is created (`CREATE DATABASE`), also when it disappears while the
archiver runs. A token of the form `username:password` is sent as HTTP basic
authentication, the way InfluxDB 1.8's compatibility API reads it.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import orjson

from archiver.sink import (
    CONNECTION_ERRORS,
    USER_AGENT,
    Refused,
    Unavailable,
    classify,
    content,
    unreachable,
)
from enginewatch.core.redact import mask_url
from enginewatch.core.retry import RETRY_AFTER_MAX, cap_retry_after, parse_retry_after
from enginewatch.core.settings import InfluxConfig
from enginewatch.core.tls import verifying_context


class InfluxV1Sink:
    """Writes line protocol to one database (and retention policy) of InfluxDB 1.x."""

    def __init__(self, influx: InfluxConfig, retry_after_max: float = RETRY_AFTER_MAX) -> None:
        self.base = influx.url.rstrip("/")
        # What messages name: the URL without the password it may carry.
        self.shown = mask_url(self.base)
        self.retry_after_max = retry_after_max
        self.database = influx.database
        self.retention_policy = influx.retention_policy
        self.timeout = aiohttp.ClientTimeout(total=influx.timeout)
        self.compressed = influx.gzip
        self.auth = _basic_auth(influx.token.get_secret_value())
        self.cafile = influx.ssl_cafile
        self.description = f"InfluxDB 1.x at {self.shown} (database {self.database!r})"
        self._session: aiohttp.ClientSession | None = None

    async def write(self, body: bytes) -> None:
        status, message, retry_after = await self._post_write(body)
        if status == 404 and "database not found" in message:
            await self.create_database()
            status, message, retry_after = await self._post_write(body)
        if status < 300:
            return
        if "retention policy not found" in message:
            raise Refused(f"InfluxDB at {self.shown}: {message} (check ENGINEWATCH_INFLUX_BUCKET)")
        raise classify(status, message, retry_after, f"{self.shown}/write")

    async def check(self) -> None:
        """At start-up: the database exists (created if not) and takes writes.

        An empty write checks the database, the retention policy and the
        credentials without writing anything.
        """
        await self.write(b"")

    async def create_database(self) -> None:
        query = f'CREATE DATABASE "{_influxql_identifier(self.database)}"'
        try:
            async with self._client().post(f"{self.base}/query", data={"q": query}) as response:
                status, text = response.status, await response.text()
        except CONNECTION_ERRORS as exc:
            raise unreachable(exc, self.shown) from None
        error = _query_error(text)
        if status in (401, 403):
            raise Refused(f"cannot create database {self.database!r}: {status} {error}")
        if status >= 300 or error:
            raise Unavailable(f"cannot create database {self.database!r}: {status} {error}")

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _client(self) -> aiohttp.ClientSession:
        # Made on first use, so inside the event loop that uses it.
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=self.timeout,
                auth=self.auth,
                headers={"User-Agent": USER_AGENT},
                connector=aiohttp.TCPConnector(ssl=verifying_context(self.cafile)),
            )
        return self._session

    async def _post_write(self, body: bytes) -> tuple[int, str, float | None]:
        params = {"db": self.database, "precision": "n"}
        if self.retention_policy:
            params["rp"] = self.retention_policy
        data, encoding = content(body, self.compressed)
        headers = {"Content-Type": "text/plain; charset=utf-8", "Content-Encoding": encoding}
        try:
            async with self._client().post(
                f"{self.base}/write", params=params, data=data, headers=headers
            ) as response:
                text = await response.text()
                retry_after = cap_retry_after(
                    parse_retry_after(response.headers.get("Retry-After")), self.retry_after_max
                )
                message = _write_error(text, response.headers.get("X-Influxdb-Error"))
                return response.status, message, retry_after
        except CONNECTION_ERRORS as exc:
            raise unreachable(exc, self.shown) from None


def _write_error(text: str, header: str | None) -> str:
    """InfluxDB 1.x says what went wrong as {"error": ...}, else in a header."""
    error = _json(text).get("error")
    if isinstance(error, str):
        return error
    return header or text.strip()


def _query_error(text: str) -> str:
    """The first error of a /query answer, at the top or in a statement's result."""
    parsed = _json(text)
    errors = [parsed.get("error")] + [
        result.get("error") for result in parsed.get("results", []) if isinstance(result, dict)
    ]
    return next((str(error) for error in errors if error), "")


def _json(text: str) -> dict[str, Any]:
    try:
        parsed = orjson.loads(text)
    except orjson.JSONDecodeError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _basic_auth(token: str) -> aiohttp.BasicAuth | None:
    if not token:
        return None
    username, _, password = token.partition(":")
    return aiohttp.BasicAuth(username, password)


def _influxql_identifier(name: str) -> str:
    return name.replace("\\", "\\\\").replace('"', '\\"')
