"""The InfluxDB v2 write API (`POST /api/v2/write`) through influxdb-client.

It serves InfluxDB 2.x, 3.x and 1.8+ (where the bucket is `database/rp` and
the token `username:password`). Bodies (gzip-compressed if so set) are sent
with influxdb-client's generated WriteService; the client's own retries stay
off, as the delivery loop owns retrying.
"""

from __future__ import annotations

import contextlib
from typing import Any

import orjson
from influxdb_client.client.influxdb_client_async import InfluxDBClientAsync
from influxdb_client.domain.write_precision import WritePrecision
from influxdb_client.rest import ApiException
from influxdb_client.service.write_service import WriteService

from archiver.sink import (
    CONNECTION_ERRORS,
    Refused,
    Rejected,
    SinkError,
    Unavailable,
    classify,
    content,
    unreachable,
)
from enginewatch.core.redact import mask_url, mask_urls
from enginewatch.core.retry import RETRY_AFTER_MAX, cap_retry_after, parse_retry_after
from enginewatch.core.settings import InfluxConfig

# 2.x OSS requires an organization; 1.8 and Cloud ignore it ("-" by convention).
NO_ORG = "-"


class InfluxV2Sink:
    """Writes line protocol to one bucket of an InfluxDB that speaks /api/v2/write."""

    def __init__(self, influx: InfluxConfig, retry_after_max: float = RETRY_AFTER_MAX) -> None:
        self.url = influx.url.rstrip("/")
        # What messages name: the URL without the password it may carry.
        self.shown = mask_url(self.url)
        self.retry_after_max = retry_after_max
        self.bucket = influx.bucket
        self.org = influx.org or NO_ORG
        self.token = influx.token.get_secret_value()
        self.timeout_ms = int(influx.timeout * 1000)
        self.compressed = influx.gzip
        self.cafile = influx.ssl_cafile
        self.description = f"InfluxDB at {self.shown} (bucket {self.bucket!r}, org {self.org!r})"
        self._client: Any = None
        self._service: Any = None

    async def write(self, body: bytes) -> None:
        data, encoding = content(body, self.compressed)
        try:
            await self._write_service().post_write_async(
                org=self.org,
                bucket=self.bucket,
                body=data,
                precision=WritePrecision.NS,
                content_encoding=encoding,
            )
        except ApiException as exc:
            if not exc.status:  # raised before any answer came
                reason = mask_urls(str(exc.reason))
                raise Unavailable(f"cannot write to {self.shown}: {reason}") from None
            raise self._failure(exc) from None
        except CONNECTION_ERRORS as exc:
            raise unreachable(exc, self.shown) from None

    def _failure(self, exc: ApiException) -> SinkError:
        message = _answer(exc.message)
        if "retention policy not found" in message:
            # 1.8 (bucket `database/policy`) answers 500, as for a failure of its own;
            # yet it is a setting to fix, as the v1 sink says too.
            return Refused(
                f"InfluxDB answered {exc.status} at {self.shown}: {message} "
                "(check ENGINEWATCH_INFLUX_BUCKET)"
            )
        retry_after = cap_retry_after(parse_retry_after(exc.retry_after), self.retry_after_max)
        return classify(exc.status, message, retry_after, self.shown)

    async def check(self) -> None:
        """At start-up: the token is accepted and the organization and bucket exist.

        InfluxDB 2.7 and 1.8 check those before they parse the body, and answer
        an empty one 204, writing nothing: so an empty write proves them. A
        server that would refuse the empty body itself (400) has answered past
        those checks too, so that is no failure here.
        """
        with contextlib.suppress(Rejected):
            await self.write(b"")

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None
            self._service = None

    def _write_service(self) -> Any:
        # The async client must be made inside the event loop that uses it.
        if self._service is None:
            self._client = InfluxDBClientAsync(
                url=self.url,
                token=self.token,
                org=self.org,
                timeout=self.timeout_ms,
                verify_ssl=True,
                ssl_ca_cert=str(self.cafile) if self.cafile is not None else None,
            )
            self._service = WriteService(self._client.api_client)  # type: ignore[no-untyped-call]
        return self._service


def _answer(message: object) -> str:
    """What InfluxDB said. influxdb-client reads a 2.x body's `message`; 1.8 answers
    `{"error": ...}`, which it hands over as the body's bytes."""
    if not isinstance(message, bytes):
        return str(message)
    with contextlib.suppress(ValueError):
        said = orjson.loads(message)
        error = said.get("error") if isinstance(said, dict) else None
        if isinstance(error, str):
            return error
    return message.decode("utf-8", errors="replace").strip()
